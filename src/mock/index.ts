/** berth's scripted mock model provider: Anthropic Messages, OpenAI Chat Completions and Responses, Gemini, on loopback. */
export {
  startMockProvider,
  redactHeaders,
  type MockLogger,
  type MockProvider,
  type MockProviderOptions,
  type RecordedRequest,
} from "./server.js";
export {
  DEFAULT_MOCK_SCRIPT,
  DEFAULT_MODEL,
  FINISHED_TEXT,
  SIDE_REQUEST_TEXT,
  loadMockScript,
  parseMockScript,
  validateMockScript,
  selectStep,
  resolveToolName,
  type MockError,
  type MockScript,
  type MockStep,
  type MockToolCall,
  type StepSelection,
} from "./script.js";
