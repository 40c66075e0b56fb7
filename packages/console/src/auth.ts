import { Berth } from "berth-client";

// The API token lives in this tab's sessionStorage only. `berth serve` prints a one-time
// link /ui/#token=…: the fragment never reaches any server (not berth's, not a proxy's
// log), and it is taken out of the address bar as soon as it is read.
const KEY = "berth.token";

export function takeTokenFromUrl(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]!));
  history.replaceState(null, "", location.pathname + location.search);
}

export const token = (): string | null => sessionStorage.getItem(KEY);
export const setToken = (t: string): void => sessionStorage.setItem(KEY, t.trim());
export const signOut = (): void => sessionStorage.removeItem(KEY);

/** The SDK against this origin: events stream over fetch with the bearer header, never a token in a URL. */
export function client(): Berth {
  return Berth.connect({ baseUrl: location.origin, token: token() ?? "" });
}
