// Splits a GGUF file into shards the way llama-gguf-split does: the first shard carries every
// metadata key, each shard carries `split.no` (u16), `split.count` (u16) and
// `split.tensors.count` (i32), and the tensors are dealt out in order. llama.cpp loads such a
// set from its first shard, `<name>-00001-of-0000N.gguf`, finding the others beside it.

const TYPE_SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 }

function reader(buf) {
  let pos = 0
  const r = {
    get pos() {
      return pos
    },
    u32() {
      const v = buf.readUInt32LE(pos)
      pos += 4
      return v
    },
    u64() {
      const v = buf.readBigUInt64LE(pos)
      pos += 8
      return Number(v)
    },
    string() {
      const n = r.u64()
      const s = buf.toString('utf8', pos, pos + n)
      pos += n
      return s
    },
    skipValue(type) {
      if (type === 8) {
        const n = r.u64()
        pos += n
        return
      }
      if (type === 9) {
        const itemType = r.u32()
        const n = r.u64()
        for (let i = 0; i < n; i++) r.skipValue(itemType)
        return
      }
      if (!(type in TYPE_SIZE)) throw new Error(`unknown GGUF value type ${type}`)
      pos += TYPE_SIZE[type]
    },
  }
  return r
}

const u32 = (v) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v)
  return b
}
const u64 = (v) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(v))
  return b
}
const str = (s) => {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([u64(b.length), b])
}
const kvU16 = (key, v) => {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(v)
  return Buffer.concat([str(key), u32(2), b])
}
const kvI32 = (key, v) => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(v)
  return Buffer.concat([str(key), u32(5), b])
}
const pad = (n, align) => Buffer.alloc((align - (n % align)) % align)

/** Splits `bytes` (a whole GGUF) into `count` shards; returns their contents. */
export function splitGguf(bytes, count) {
  const r = reader(bytes)
  if (bytes.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file')
  r.u32() // magic
  const version = r.u32()
  const nTensors = r.u64()
  const nKv = r.u64()
  const kvs = []
  let alignment = 32
  let alignmentKv = null
  for (let i = 0; i < nKv; i++) {
    const start = r.pos
    const key = r.string()
    const type = r.u32()
    const valueAt = r.pos
    r.skipValue(type)
    const raw = bytes.subarray(start, r.pos)
    if (key === 'general.alignment') {
      alignment = bytes.readUInt32LE(valueAt)
      alignmentKv = raw
    }
    if (!key.startsWith('split.')) kvs.push(raw)
  }
  const tensors = []
  for (let i = 0; i < nTensors; i++) {
    const name = r.string()
    const infoStart = r.pos
    const nDims = r.u32()
    for (let d = 0; d < nDims; d++) r.u64()
    r.u32() // type
    const shape = bytes.subarray(infoStart, r.pos) // n_dims, dims, type
    const offset = r.u64()
    tensors.push({ name, shape, offset })
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset)
  byOffset.forEach((t, i) => {
    const end = i + 1 < byOffset.length ? byOffset[i + 1].offset : bytes.length - dataStart
    t.data = bytes.subarray(dataStart + t.offset, dataStart + end)
  })

  const shards = []
  const per = Math.ceil(tensors.length / count)
  for (let s = 0; s < count; s++) {
    const mine = tensors.slice(s * per, (s + 1) * per)
    const keys = [
      ...(s === 0 ? kvs : alignmentKv ? [alignmentKv] : []),
      kvU16('split.no', s),
      kvU16('split.count', count),
      kvI32('split.tensors.count', tensors.length),
    ]
    const infos = []
    const data = []
    let offset = 0
    for (const t of mine) {
      infos.push(Buffer.concat([str(t.name), t.shape, u64(offset)]))
      data.push(t.data, pad(t.data.length, alignment))
      offset += t.data.length + pad(t.data.length, alignment).length
    }
    const head = Buffer.concat([Buffer.from('GGUF', 'latin1'), u32(version), u64(mine.length), u64(keys.length), ...keys, ...infos])
    shards.push(Buffer.concat([head, pad(head.length, alignment), ...data]))
  }
  return shards
}

/** `name-00001-of-00003.gguf` … */
export const shardName = (name, i, count) => `${name}-${String(i).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`
