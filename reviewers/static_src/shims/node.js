// Browser stand-ins for Node built-ins that vtk.js's XML and file helpers import at load time.
// The viewer never calls them; they only have to exist so the bundle can start.
export class EventEmitter {}
export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;
export function readFileSync() {
  throw new Error("No file system in the browser.");
}
export default { EventEmitter, URL, URLSearchParams, readFileSync };
