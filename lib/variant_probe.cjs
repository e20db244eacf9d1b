// The device probe of lib/variant.cjs, run in a child process: loads the addon file in argv[2]
// (a GPU variant package's) and prints the GPU devices it finds as one line of JSON.
'use strict'

const addon = require(process.argv[2])
const devices = typeof addon.gpuDevices === 'function' ? addon.gpuDevices() : []
process.stdout.write(`${JSON.stringify(devices.map(({ backend, name, description }) => ({ backend, name, description })))}\n`)
