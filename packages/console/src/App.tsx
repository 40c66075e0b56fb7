import { useEffect, useMemo, useState } from "react";
import { BerthError } from "berth-client";
import { client, signOut, token } from "./auth.js";
import { href, navigate, useRoute, type Route } from "./router.js";
import { NewSession } from "./views/NewSession.js";
import { SessionView } from "./views/Session.js";
import { Sessions } from "./views/Sessions.js";
import { SignIn } from "./views/SignIn.js";
import { System } from "./views/System.js";

export function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(() => token() !== null);
  // One client per sign-in: a new one on every render would restart each view's event stream.
  const berth = useMemo(() => client(), [signedIn]);
  const [theme, setTheme] = useState(() => localStorage.getItem("berth.theme") ?? "auto");
  useEffect(() => {
    localStorage.setItem("berth.theme", theme);
    const media = matchMedia("(prefers-color-scheme: dark)");
    const apply = () => (document.documentElement.dataset.theme = theme === "auto" ? (media.matches ? "dark" : "light") : theme);
    apply();
    media.addEventListener("change", apply);
    return () => media.removeEventListener("change", apply);
  }, [theme]);
  // A token the server refuses (rotated, mistyped) sends the person back to sign in.
  useEffect(() => {
    const on = (e: PromiseRejectionEvent) => {
      if (e.reason instanceof BerthError && e.reason.status === 401) {
        signOut();
        setSignedIn(false);
      }
    };
    addEventListener("unhandledrejection", on);
    return () => removeEventListener("unhandledrejection", on);
  }, []);

  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const link = (r: Route, label: string, shortcut: string) => (
    <a
      href={href(r)}
      aria-current={route.page === r.page ? "page" : undefined}
      aria-keyshortcuts={shortcut}
      onClick={(e) => {
        e.preventDefault();
        navigate(r);
      }}
    >
      {label}
    </a>
  );
  return (
    <div className="app">
      <header className="top">
        <span className="brand">berth</span>
        <nav aria-label="Main">
          {link({ page: "sessions" }, "Sessions", "g s")}
          {link({ page: "new" }, "New session", "n")}
          {link({ page: "system" }, "Harnesses & conformance", "g h")}
        </nav>
        <span className="spacer" />
        <label className="theme">
          <span className="sr-only">Theme</span>
          <select aria-label="Theme" value={theme} onChange={(e) => setTheme(e.target.value)}>
            <option value="auto">Auto</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <button
          type="button"
          className="quiet"
          onClick={() => {
            signOut();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {route.page === "sessions" && <Sessions berth={berth} />}
        {route.page === "new" && <NewSession berth={berth} />}
        {route.page === "session" && <SessionView key={route.id} berth={berth} id={route.id} />}
        {route.page === "system" && <System berth={berth} />}
      </main>
    </div>
  );
}
