import { useEffect, useState } from "react";

// Paths under /ui/ (the server answers index.html for each): / sessions, /new, /sessions/<id>, /system.
export type Route = { page: "sessions" } | { page: "new" } | { page: "session"; id: string } | { page: "system" };

export function parse(pathname: string): Route {
  const rest = pathname.replace(/^\/ui\/?/, "");
  const m = /^sessions\/([^/]+)$/.exec(rest);
  if (m) return { page: "session", id: decodeURIComponent(m[1]!) };
  if (rest === "new") return { page: "new" };
  if (rest === "system") return { page: "system" };
  return { page: "sessions" };
}

export function href(r: Route): string {
  switch (r.page) {
    case "sessions":
      return "/ui/";
    case "new":
      return "/ui/new";
    case "system":
      return "/ui/system";
    case "session":
      return `/ui/sessions/${encodeURIComponent(r.id)}`;
  }
}

export function navigate(r: Route): void {
  history.pushState(null, "", href(r));
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname));
  useEffect(() => {
    const on = () => setRoute(parse(location.pathname));
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return route;
}
