// An error for a log line: its type and message, never its stack or the documents, requests or
// bodies a driver's or SDK's error carries.
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
