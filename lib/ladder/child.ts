// The process one ladder rung runs in (ladder.ts starts it): node child.js '<RungSetup as JSON>'. It
// prints one JSON line per phase ({"phase": ...}) and the measurement last ({"result": ...}); an error
// goes to stderr as one line and the exit code is 1.
import { resolveBackend } from "../backend.js";
import { measureRung, type RungSetup } from "./rung.js";

try {
  const setup = JSON.parse(process.argv[2] ?? "") as RungSetup;
  await resolveBackend();
  const result = await measureRung(setup, (phase) => console.log(JSON.stringify({ phase })));
  console.log(JSON.stringify({ result }));
} catch (error) {
  console.error(error instanceof Error ? error.message.split("\n")[0] : String(error));
  process.exitCode = 1;
}
