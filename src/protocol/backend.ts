// Builders for the backend messages pgporter itself sends to clients (errors, notices, auth requests, status); built once where constant.
import { AuthCode, Backend } from './codes.js';

/** Fields of an ErrorResponse or NoticeResponse (https://www.postgresql.org/docs/current/protocol-error-fields.html). */
export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** One typed message: type byte, int32 length, body. */
export function message(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function fieldsBody(f: ErrorFields): Buffer {
  const parts: Buffer[] = [];
  const add = (tag: string, v: string | undefined) => {
    if (v === undefined) return;
    parts.push(Buffer.from(tag + v + '\0', 'utf8'));
  };
  add('S', f.severity);
  add('V', f.severity); // non-localised severity, for clients that read it (libpq 9.6+)
  add('C', f.code);
  add('M', f.message);
  add('D', f.detail);
  add('H', f.hint);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function errorResponse(f: ErrorFields): Buffer {
  return message(Backend.ErrorResponse, fieldsBody(f));
}

export function noticeResponse(message_: string, code = '00000'): Buffer {
  return message(Backend.NoticeResponse, fieldsBody({ severity: 'NOTICE', code, message: message_ }));
}

export function parameterStatus(name: string, value: string): Buffer {
  return message(Backend.ParameterStatus, Buffer.from(`${name}\0${value}\0`, 'utf8'));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeInt32BE(pid | 0, 0);
  body.writeInt32BE(secret | 0, 4);
  return message(Backend.BackendKeyData, body);
}

/**
 * The end of a login as one buffer: `head` (AuthenticationOk, when it was held back to go with the rest), the
 * ParameterStatus block, BackendKeyData(pid, secret) and ReadyForQuery idle: one allocation and one write.
 */
export function loginEnd(head: Buffer | undefined, params: Buffer, pid: number, secret: number): Buffer {
  const h = head === undefined ? 0 : head.length;
  const out = Buffer.allocUnsafe(h + params.length + 13 + 6);
  let i = 0;
  if (head !== undefined) i += head.copy(out, 0);
  i += params.copy(out, i);
  out[i] = Backend.BackendKeyData;
  out.writeInt32BE(12, i + 1);
  out.writeInt32BE(pid | 0, i + 5);
  out.writeInt32BE(secret | 0, i + 9);
  i += 13;
  out[i] = Backend.ReadyForQuery;
  out.writeInt32BE(5, i + 1);
  out[i + 5] = 0x49; // 'I'
  return out;
}

function authMessage(code: number, extra?: Buffer): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeInt32BE(code, 0);
  return message(Backend.Authentication, extra ? Buffer.concat([head, extra]) : head);
}

export const AUTH_OK: Buffer = authMessage(AuthCode.Ok);
export const AUTH_CLEARTEXT: Buffer = authMessage(AuthCode.CleartextPassword);

export function authMd5(salt: Buffer): Buffer {
  return authMessage(AuthCode.MD5Password, salt);
}

export function authSasl(mechanisms: string[]): Buffer {
  return authMessage(AuthCode.SASL, Buffer.from(mechanisms.map((m) => m + '\0').join('') + '\0', 'utf8'));
}

export function authSaslContinue(data: string): Buffer {
  return authMessage(AuthCode.SASLContinue, Buffer.from(data, 'utf8'));
}

export function authSaslFinal(data: string): Buffer {
  return authMessage(AuthCode.SASLFinal, Buffer.from(data, 'utf8'));
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return message(Backend.ReadyForQuery, Buffer.from(status, 'latin1'));
}

/** NegotiateProtocolVersion: the newest minor version we support and the options we did not recognise. */
export function negotiateProtocolVersion(minor: number, unrecognised: string[]): Buffer {
  const head = Buffer.allocUnsafe(8);
  head.writeInt32BE((3 << 16) | minor, 0);
  head.writeInt32BE(unrecognised.length, 4);
  return message(Backend.NegotiateProtocolVersion, Buffer.concat([head, Buffer.from(unrecognised.map((o) => o + '\0').join(''), 'utf8')]));
}

/** The single-byte answers to SSLRequest and GSSENCRequest. */
export const SSL_YES: Buffer = Buffer.from('S');
export const SSL_NO: Buffer = Buffer.from('N');
