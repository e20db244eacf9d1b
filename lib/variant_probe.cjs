// The device probe of lib/variant.cjs, run in a child process: loads the addon file in argv[2]
// (a GPU variant package's) and prints the GPU devices it finds as one line of JSON, or exits
// with 1 and the error on one line.
'use strict'

let devices
try {
  const addon = require(process.argv[2])
  devices = typeof addon.gpuDevices === 'function' ? addon.gpuDevices() : []
} catch (error) {
  process.stderr.write(`${String(error?.message ?? error).split('\n')[0]}\n`)
  process.exit(1)
}
process.stdout.write(`${JSON.stringify(devices.map(({ backend, name, description }) => ({ backend, name, description })))}\n`)
