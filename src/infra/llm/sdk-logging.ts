// What the vendor SDKs (OpenAI, Anthropic) are built with: they never write anything. By default
// they log through the console, and a malformed event made them print its raw chunk (model output:
// user data) as plain lines outside our JSON logs (a black-box audit). Their failures reach our logs
// as LlmProviderErrors through LlmEvents: vendor, status or kind, never what the vendor sent.
const silent = (): void => undefined;

export const SILENT_SDK = {
  logLevel: 'off',
  logger: { error: silent, warn: silent, info: silent, debug: silent },
} as const;
