// lib/viz's public surface.
export { JUPYTER_DISPLAY, isDisplayable, toDisplayBundle, type Displayable, type DisplayBundle, type DisplayFunction, type DisplayHandle, type MimeBundle } from "./display.js";
