// Loopback plumbing shared by the server tests and bench/scaling.mjs: a free port, and
// HAProxy's stats socket read as rows. No addon is loaded here (the bench imports it too).
import net from 'node:net'

/** A port free a moment ago on `host` (taken, then released for the caller to bind). */
export const freePort = (host = '127.0.0.1') =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

/** HAProxy's `show stat` over its stats socket: one object per CSV row. */
export const haproxyStats = (socket) =>
  new Promise((resolve, reject) => {
    let text = ''
    const s = net.connect(socket, () => s.end('show stat\n'))
    s.setEncoding('utf8').on('data', (d) => (text += d))
    s.on('error', reject)
    s.on('end', () => {
      const [header, ...rows] = text.trim().split('\n')
      const names = header.replace(/^# /, '').split(',')
      resolve(rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i], v]))))
    })
  })

/** The stats row of server `name` (or `BACKEND`) in deploy/haproxy.cfg's backend. */
export const serverRow = (stats, name) => stats.find((r) => r.pxname === 'llama_rerank' && r.svname === name)
