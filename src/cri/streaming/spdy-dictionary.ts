/**
 * The zlib dictionary of SPDY/3 name/value header blocks (SPDY Protocol draft 3, section 2.6.10.1):
 * a list of common header names and values, each preceded by its length as a 32-bit big-endian
 * integer, followed by a run of common status lines, dates and media types without length prefixes.
 * Built here from those two parts; test/unit/streaming-spdy.test.ts checks the result's size and
 * SHA-256 against the published 1423-byte dictionary.
 */

const PREFIXED_WORDS: readonly string[] = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization',
  'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma',
  'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public',
  'set-cookie', 'keep-alive', 'origin',
];

const TRAILER =
  '10010120120220520630030230330430530630740240540640740840941041141241341441541641' +
  '7502504505203 Non-Authoritative Information204 No Content301 Moved Permanently40' +
  '0 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error' +
  '501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept O' +
  'ct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,imag' +
  'e/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/' +
  'javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1' +
  ',utf-,*,enq=0.';

function build(): Buffer {
  const parts: Buffer[] = [];
  for (const word of PREFIXED_WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(Buffer.byteLength(word, 'latin1'));
    parts.push(len, Buffer.from(word, 'latin1'));
  }
  parts.push(Buffer.from(TRAILER, 'latin1'));
  return Buffer.concat(parts);
}

/** The dictionary bytes (1423). */
export const SPDY3_HEADER_DICTIONARY: Buffer = build();
