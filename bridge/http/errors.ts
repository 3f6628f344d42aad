// The HTTP API's own reply codes: failures of the request itself (route, method, media type, auth,
// Host/Origin), with no exception class. Errors of the parts (TributaryError) are answered with
// their own code. Each reply body is { code, message }.

export const HTTP_ERROR_CODES = [
  'TRIB_HTTP_METHOD',
  'TRIB_HTTP_NOT_FOUND',
  'TRIB_HTTP_INTERNAL',
  'TRIB_HTTP_UNAUTHORIZED',
  'TRIB_HTTP_MEDIA_TYPE',
  'TRIB_HTTP_HOST',
  'TRIB_HTTP_ORIGIN',
  'TRIB_HTTP_BAD_REQUEST',
] as const;
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

export interface HttpErrorBody {
  code: HttpErrorCode;
  message: string;
}

/** The body of an HTTP API error reply; the code must be one of the table above. */
export function httpError(code: HttpErrorCode, message: string): HttpErrorBody {
  return { code, message };
}
