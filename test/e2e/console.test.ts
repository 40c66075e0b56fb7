/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { FINAL_TEXT, toolLoopScript, WRITE_PROMPT } from "./harness-contract.js";
import { API_TOKEN, HARNESS_CACHE, REPO, startBerth, type BerthProc } from "./helpers.js";

// The web console in a real Chromium (Debian's, driven by playwright-core) against a real
// berth serve: real Pi and Claude Code in T1 on berth's scripted mock model. The browser
// reaches berth through a TCP proxy the test can cut, to see the timeline heal.
const CANARY = "sk-ant-api03-CONSOLE" + "C".repeat(40);
const script = toolLoopScript({ name: "bash", input: { command: "printf 'written from the console' > out.txt && echo done", description: "Write out.txt" } });
const CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
const SHOTS = join(REPO, ".cache", "screenshots");

let mock: MockProvider;
let berth: BerthProc;
let browser: Browser;
let proxy: { url: string; cut: () => number; close: () => void };

/** Forwards to berth; cut() destroys every open connection (the browser sees the network drop). */
async function cuttableProxy(port: number) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(port, "127.0.0.1");
    sockets.add(client);
    client.pipe(up).pipe(client);
    const end = () => (client.destroy(), up.destroy(), sockets.delete(client));
    client.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    close: () => server.close(),
  };
}

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("chromium is missing: install Debian's chromium package (apt-get install --no-install-recommends chromium; scripts/setup.sh does)");
  mock = await startMockProvider({ script, requireKey: CANARY });
  berth = await startBerth({ env: { ANTHROPIC_API_KEY: CANARY, ANTHROPIC_BASE_URL: mock.url, BERTH_MODEL: "claude-mock" } });
  proxy = await cuttableProxy(Number(new URL(berth.url).port));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  proxy?.close();
  await berth?.stop();
  await mock?.close();
});

async function signedIn(viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  // The one-time link berth serve prints: the token in the fragment, gone from the address bar once read.
  await page.goto(`${proxy.url}/ui/#token=${encodeURIComponent(API_TOKEN)}`);
  await page.getByRole("heading", { name: "Sessions" }).waitFor();
  expect(page.url()).toBe(`${proxy.url}/ui/`);
  return page;
}

async function createFromForm(page: Page, harness: string, policy: "allow" | "ask"): Promise<string> {
  await page.getByRole("link", { name: "New session" }).click();
  await page.getByLabel("Harness").selectOption(harness);
  await page.getByLabel("Permission policy").selectOption(policy);
  await page.getByRole("button", { name: "Create session" }).click();
  await page.waitForURL(/\/ui\/sessions\/ses_/);
  await page.locator(".timeline .status", { hasText: "session ready" }).first().waitFor({ timeout: 120_000 });
  return decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
}

async function send(page: Page, text: string) {
  await page.getByLabel("Prompt").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

describe("the console in a real browser", () => {
  it("signs in with the pasted token, and refuses a wrong one", async () => {
    const page = await browser.newPage();
    await page.goto(`${proxy.url}/ui/`);
    await page.getByLabel("API token").fill("brt_wrong_" + "w".repeat(32));
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toContain("refused");
    await page.getByLabel("API token").fill(API_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Sessions" }).waitFor();
    // Kept in this tab's session storage only; nothing in local storage, the URL or a cookie.
    expect(await page.evaluate(() => [sessionStorage.getItem("berth.token"), Object.keys(localStorage).filter((k) => localStorage.getItem(k)?.includes("brt_")), document.cookie])).toEqual([API_TOKEN, [], ""]);
    await page.close();
  });

  it("Pi: a session from the form, a prompt whose tool call completes and whose text appears, a dropped network healed without duplicates", async () => {
    const page = await signedIn();
    const id = await createFromForm(page, "pi", "allow");
    await send(page, WRITE_PROMPT);
    const tool = page.locator(".tool").first();
    await tool.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 60_000 });
    await expect(tool.textContent()).resolves.toContain("Write out.txt");
    await page.locator(".text", { hasText: FINAL_TEXT }).waitFor();
    await page.locator(".turn-head .badge", { hasText: "end_turn" }).waitFor();

    // The network drops: open connections die and new event streams are refused for a while.
    await page.route("**/v1/sessions/*/events*", (route) => route.abort("internetdisconnected"));
    expect(proxy.cut()).toBeGreaterThan(0);
    await page.locator(".live", { hasText: "reconnecting" }).waitFor({ timeout: 10_000 });
    // Meanwhile the session goes on: a second turn, posted behind the browser's back.
    const t2 = await berth.client.postTurn(id, WRITE_PROMPT);
    await new Promise((r) => setTimeout(r, 2500));
    await page.unroute("**/v1/sessions/*/events*");
    await page.locator(`.turn[data-turn="${t2.id}"] .turn-head .badge`, { hasText: "end_turn" }).waitFor({ timeout: 60_000 });
    await page.locator(".live", { hasText: "live" }).waitFor();
    // Healed: both turns whole, nothing twice.
    const turns = await page.locator(".timeline > li.turn").evaluateAll((els) => els.map((e) => e.getAttribute("data-turn")));
    const stored = (await berth.client.eventsPage(id, 0, 5000)).events;
    const turnIds = [...new Set(stored.map((e) => e.turnId).filter(Boolean))];
    expect(turns).toEqual(turnIds);
    for (const t of turnIds) {
      const tools = stored.filter((e) => e.turnId === t && e.type === "tool.call").length;
      expect(await page.locator(`.turn[data-turn="${t}"] .tool`).count()).toBe(tools);
      expect(await page.locator(`.turn[data-turn="${t}"] .text`, { hasText: FINAL_TEXT }).count()).toBe(1);
    }
    // One "ready" line (the ready after each turn is the turn's end, not repeated), each prompt once.
    expect(await page.locator(".timeline .status", { hasText: "session ready" }).count()).toBe(1);
    expect(await page.locator(".prompt-text", { hasText: WRITE_PROMPT }).count()).toBe(2);
    await page.screenshot({ path: join(SHOTS, "console-session.png"), fullPage: true });

    // The list shows it, live, with its state; filters narrow it.
    await page.getByRole("link", { name: "Sessions" }).click();
    await page.getByRole("link", { name: id }).waitFor();
    await page.getByLabel("Filter by harness").selectOption("pi");
    expect(await page.locator("tbody tr").count()).toBeGreaterThan(0);
    await page.close();
  }, 240_000);

  it("Claude Code (asks first): a permission answered with the keyboard, and a turn cancelled while it waits", async () => {
    const page = await signedIn();
    await createFromForm(page, "claude", "ask");
    await send(page, WRITE_PROMPT);
    const dialog = page.getByRole("alertdialog", { name: "The agent asks for permission" });
    await dialog.waitFor({ timeout: 60_000 });
    await expect(dialog.textContent()).resolves.toContain("Write out.txt");
    await page.keyboard.press("a");
    await dialog.waitFor({ state: "detached" });
    await page.locator(".permission-line", { hasText: "(by client)" }).waitFor();
    await page.locator(".tool[data-status=completed]").waitFor({ timeout: 60_000 });
    await page.locator(".turn-head .badge", { hasText: "end_turn" }).waitFor();
    await page.getByRole("button", { name: "End session" }).click();
    await page.locator(".badge.state-ended").waitFor();

    await createFromForm(page, "claude", "ask");
    await send(page, WRITE_PROMPT);
    await dialog.waitFor({ timeout: 60_000 });
    // The list, in another tab, flags the session that waits for an answer.
    const list = await signedIn();
    await list.locator("tbody tr", { hasText: "needs permission" }).waitFor({ timeout: 10_000 });
    expect(await list.locator("tbody tr", { hasText: "needs permission" }).count()).toBe(1);
    await list.close();
    await page.getByRole("button", { name: "Cancel turn" }).click();
    await page.locator(".turn-head .badge", { hasText: "cancelled" }).waitFor({ timeout: 30_000 });
    await dialog.waitFor({ state: "detached" });
    await page.close();
  }, 240_000);

  it("shows harnesses, provider routes and the latest conformance run per tier", async () => {
    const r = await promisify(execFile)(process.execPath, [join(REPO, "dist/bundle/berth.mjs"), "conformance", "--tier", "process"], {
      env: { PATH: process.env.PATH!, BERTH_HOME: berth.home, BERTH_HARNESS_CACHE: HARNESS_CACHE },
      encoding: "utf8",
    });
    expect(r.stdout).toMatch(/fork_bomb_contained\s+ok/);
    const page = await signedIn();
    await page.getByRole("link", { name: "Harnesses & conformance" }).click();
    const table = page.getByRole("table", { name: "Conformance of tier process" });
    await table.waitFor();
    expect(await table.locator("td.ok").count()).toBeGreaterThan(5);
    expect(await table.locator("td.bad").count()).toBe(0);
    await expect(page.locator("table").first().textContent()).resolves.toContain("Claude");
    await expect(page.getByRole("table").nth(1).textContent()).resolves.toMatch(/ANTHROPIC_API_KEY: present/);
    await page.screenshot({ path: join(SHOTS, "console-system.png"), fullPage: true });
    // By now every earlier test's sessions are in the list.
    await page.getByRole("link", { name: "Sessions" }).click();
    await page.locator("tbody tr").nth(2).waitFor();
    await page.screenshot({ path: join(SHOTS, "console-sessions.png") });
    // The state filter is the server's (?state=): only ended sessions, the one Claude session ended above among them.
    const all = await page.locator("tbody tr").count();
    await page.getByLabel("Filter by state").selectOption("ended");
    await page.waitForFunction((n) => document.querySelectorAll("tbody tr").length < n, all);
    const rows = await page.locator("tbody tr").count();
    expect(rows).toBeGreaterThan(0);
    expect(await page.locator("tbody tr .badge.state-ended").count()).toBe(rows);
    // Fewer sessions than a page: nothing more to show.
    expect(await page.getByRole("button", { name: "Show more" }).count()).toBe(0);
    await page.close();
  });

  it("works at phone width, in dark mode, with an accessible name on every control", async () => {
    const page = await signedIn({ width: 390, height: 844 });
    await page.emulateMedia({ colorScheme: "dark" });
    for (const where of ["Sessions", "New session", "Harnesses & conformance"]) {
      await page.getByRole("link", { name: where }).click();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${where} scrolls sideways`).toBeLessThanOrEqual(0);
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll("button, a, input, select, textarea")]
          .filter((el) => {
            const e = el as HTMLInputElement;
            const label = e.labels?.length ? [...e.labels].map((l) => l.textContent).join("") : "";
            return !(e.getAttribute("aria-label") || label || e.textContent?.trim() || e.getAttribute("title"));
          })
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      expect(unnamed, where).toEqual([]);
    }
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe("rgb(15, 20, 25)");
    await page.close();
  });
});
