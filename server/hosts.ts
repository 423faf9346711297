// Host names a server without API keys answers: only names of this machine (a page whose DNS name was rebound to
// 127.0.0.1 names its own host, and is refused), or the configured public URL's host.

/** True for a Host header naming this machine: `localhost`, `127.x.x.x` or `[::1]`, with any port. */
export function loopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '')
  return name === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name)
}
