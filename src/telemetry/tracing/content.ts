// Content recorded with opt-in capture (prompts, outputs, tool arguments and results),
// as GenAI message parts, cut to a bounded size.

/** Longest content string recorded (opt-in capture); longer ones are cut and marked. */
export const MAX_CONTENT_CHARS = 16 * 1024;

/** `text`, cut to MAX_CONTENT_CHARS and marked where it was cut. */
export function truncateContent(text: string): string {
  return text.length > MAX_CONTENT_CHARS ? `${text.slice(0, MAX_CONTENT_CHARS)}…[truncated ${text.length - MAX_CONTENT_CHARS} chars]` : text;
}

/** A value as an attribute string: strings as they are, anything else as JSON; truncated. */
export function contentString(value: unknown): string {
  try {
    return truncateContent(typeof value === "string" ? value : (JSON.stringify(value) ?? ""));
  } catch {
    return "";
  }
}

/** ACP prompt content blocks → GenAI message parts (semconv gen-ai-input-messages.json). */
export function promptParts(prompt: unknown): object[] {
  if (typeof prompt === "string") return [{ type: "text", content: truncateContent(prompt) }];
  if (!Array.isArray(prompt)) return [];
  return prompt.map((block: any) => {
    switch (block?.type) {
      case "text":
        return { type: "text", content: truncateContent(String(block.text ?? "")) };
      case "resource_link":
        return { type: "uri", uri: String(block.uri ?? ""), ...(block.mimeType ? { mime_type: block.mimeType } : {}) };
      case "resource":
        return typeof block.resource?.text === "string"
          ? { type: "text", content: truncateContent(block.resource.text) }
          : { type: "uri", uri: String(block.resource?.uri ?? "") };
      case "image":
      case "audio":
        // Media is not copied into telemetry; its presence is.
        return { type: "blob", modality: block.type, ...(block.mimeType ? { mime_type: block.mimeType } : {}) };
      default:
        return { type: "generic", content_type: String(block?.type ?? "unknown") };
    }
  });
}
