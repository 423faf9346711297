// Text that must be UTF-8 (pipeline files, request bodies): decoded strictly, and where it is not, said where.

/** UTF-8 text, or where it stops being UTF-8: the first bad byte's line and column (lossy decoding would hide it). */
export function decodeUtf8(bytes: Uint8Array): { ok: true; text: string } | { ok: false; line: number; col: number; byte: number } {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) }
  } catch {
    // the lossy decoding marks the first bad byte with U+FFFD; a U+FFFD written in the file (EF BF BD) is text
    const lossy = Buffer.from(bytes).toString('utf8')
    let offset = 0
    let line = 1
    let col = 1
    for (const ch of lossy) {
      if (ch === '\uFFFD' && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) return { ok: false, line, col, byte: bytes[offset] ?? 0 }
      offset += Buffer.byteLength(ch)
      if (ch === '\n') {
        line++
        col = 1
      } else col++
    }
    return { ok: false, line, col, byte: bytes[offset] ?? 0 }
  }
}
