
/**
 * The model a session gets when it names none: berth's mock when berth holds no provider
 * key (in its environment or a `*_FILE`), else a model of the first family it has one for.
 * `BERTH_MODEL` overrides. Routing itself is the provider registry's (providers/).
 */
export function defaultModelFromEnv(env: NodeJS.ProcessEnv, configured?: string): { defaultModel: string; useMock: boolean } {
  const has = (name: string) => Boolean(env[name] || env[`${name}_FILE`]);
  const anthropic = has("ANTHROPIC_API_KEY") || has("CLAUDE_CODE_OAUTH_TOKEN");
  const openai = has("OPENAI_API_KEY");
  const google = has("GEMINI_API_KEY");
  const useMock = !anthropic && !openai && !google;
  const defaultModel = configured ?? (useMock ? "mock-1" : anthropic ? "claude-sonnet-4-5" : openai ? "gpt-5" : "gemini-2.5-pro");
  return { defaultModel, useMock };
}
