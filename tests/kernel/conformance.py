"""Jupyter's kernel conformance suite (jupyter_kernel_test) against the qlora-lab kernel, every attribute set.

Run by tests/kernel/conformance.test.ts after `qlora-lab install --prefix <tmp>` with JUPYTER_PATH set.
"""
import unittest

import jupyter_kernel_test


class QloraLabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "qlora-lab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'

    completion_samples = [
        {"text": "resolveBack", "matches": {"resolveBackend"}},
        {"text": "display.mark", "matches": {"markdown"}},
        {"text": "const greeting = 'hi'; greet", "matches": {"greeting"}},
    ]
    complete_code_samples = ["1 + 1", "const x = 1;", "function f() { return 2 }", "display('x')"]
    incomplete_code_samples = ["function f() {", "const a = [1, 2,", "if (true) {\n  console.log(1)", "`unclosed ${1}"]
    invalid_code_samples = ["import = 7q", "let = 7q", "1 +* 2)"]

    code_page_something = "resolveBackend?"
    code_generate_error = 'throw new Error("boom")'
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "1 + 2", "result": "3"},
        {"code": "'qlora'.toUpperCase()", "result": "'QLORA'"},
        {"code": "tf.tensor([1, 2]).shape", "result": "[ 2 ]"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
    ]
    code_display_data = [
        {"code": 'display.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'display.markdown("# title")', "mime": "text/markdown"},
        {"code": 'display.svg("<svg xmlns=\'http://www.w3.org/2000/svg\'/>")', "mime": "image/svg+xml"},
        {"code": 'display.vegalite({ mark: "point", data: { values: [] } })', "mime": "application/vnd.vegalite.v5+json"},
        {"code": "display.json({ a: 1 })", "mime": "application/json"},
        {"code": "display({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<i>me</i>' }) })", "mime": "text/html"},
    ]
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6?7"
    code_inspect_sample = "resolveBackend"
    code_clear_output = "clearOutput()"

    @classmethod
    def setUpClass(cls):
        # The suite allows 15 s per reply. On a busy CI machine the kernel's first cell (TypeScript
        # start-up plus the library's types) can come close, so warm it once with a generous timeout.
        super().setUpClass()
        cls.kc.execute_interactive("0", timeout=180)


if __name__ == "__main__":
    unittest.main(verbosity=2)
