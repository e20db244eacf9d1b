// Deterministic benchmark workloads: one query and N documents whose token counts are fitted
// to a seeded target range with the engine's own tokenizer.
//
//   a  "short passages": 1 query x 100 documents of 40-80 tokens (plain prose)
//   b  "QMD-like":       1 query x 40 documents of 300-900 tokens (markdown note chunks)
//
// A document's tokens are counted as calculateInputLength(query, doc) - calculateInputLength(query, ""),
// i.e. what the document adds to the pair, so the fit does not depend on the prompt template.

export const WORKLOADS = {
  a: {
    name: 'short passages',
    documents: 100,
    minTokens: 40,
    maxTokens: 80,
    seed: 0xa11ce,
    style: 'prose',
    query: 'how do solar panels turn sunlight into electricity for a home',
  },
  b: {
    name: 'QMD-like',
    documents: 40,
    minTokens: 300,
    maxTokens: 900,
    seed: 0xb0b,
    style: 'markdown',
    query: 'how should I configure rate limits and retries for the notes sync service',
  },
}

// mulberry32: a small seeded PRNG with 32-bit state
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = `
the of and to in is that for it as was with be by on not he this are or his from at which but
have an they you were her all she there would their we him been has when who will more no if out
so said what up its about into than them can only other new some could time these two may then do
first any my now such like our over man me even most made after also did many before must through
back years where much your way well down should because each just those people how too little state
good very make world still own see men work long get here between both life being under never day
same another know while last might us great old year off come since against go came right used take
three states himself few house use during without again place around however home small found thought
went say part once general high upon school every does got united left number course war until always
away something fact though water less public put think almost hand enough far took head yet government
system better set told nothing night end why called didn't eyes find going look asked later knew point
next program city business give group toward young days let room president side social given present
several order national possible rather second face per among form important often things looking large
information energy light panel solar roof battery inverter current voltage power grid meter cell silicon
sunlight electricity heat winter summer cloud weather cost install wiring safety storage charge output
rate limit retry request server client queue token bucket window backoff timeout error network service
sync notes file folder index search query result config option value default setting log cache memory
disk update version release change test build deploy cluster node worker thread process schedule task
`
  .trim()
  .split(/\s+/)

const HEADINGS = [
  'Overview',
  'Configuration',
  'Rate limits',
  'Retries',
  'Troubleshooting',
  'Notes',
  'Setup',
  'Examples',
  'Background',
  'Open questions',
  'Deployment',
  'Monitoring',
]

function sentence(r) {
  const n = 6 + Math.floor(r() * 14)
  const words = []
  for (let i = 0; i < n; i++) {
    let w = WORDS[Math.floor(r() * WORDS.length)]
    if (r() < 0.04) w = String(Math.floor(r() * 1000))
    if (i > 2 && i < n - 2 && r() < 0.08) w += ','
    words.push(w)
  }
  words[0] = words[0][0].toUpperCase() + words[0].slice(1)
  return words.join(' ') + '.'
}

/** A long text in the workload's style: an array of pieces that join with no separator. */
function pieces(r, style, approxWords) {
  const out = []
  let words = 0
  if (style === 'prose') {
    while (words < approxWords) {
      const s = sentence(r)
      for (const w of s.split(' ')) out.push((out.length ? ' ' : '') + w)
      words += s.split(' ').length
    }
    return out
  }
  // markdown: heading, paragraphs, a bullet list, sometimes a config line in backticks
  while (words < approxWords) {
    out.push((out.length ? '\n\n' : '') + '## ' + HEADINGS[Math.floor(r() * HEADINGS.length)])
    const paragraphs = 1 + Math.floor(r() * 3)
    for (let p = 0; p < paragraphs && words < approxWords; p++) {
      const sentences = 2 + Math.floor(r() * 4)
      let first = true
      for (let s = 0; s < sentences; s++) {
        const ws = sentence(r).split(' ')
        ws.forEach((w, i) => out.push((first && i === 0 ? '\n\n' : ' ') + w))
        first = false
        words += ws.length
      }
    }
    if (r() < 0.6) {
      const items = 2 + Math.floor(r() * 4)
      for (let i = 0; i < items; i++) {
        const ws = sentence(r).split(' ')
        ws.forEach((w, j) => out.push((j === 0 ? (i === 0 ? '\n\n- ' : '\n- ') : ' ') + w))
        words += ws.length
      }
    }
    if (r() < 0.3) {
      out.push(`\n\n\`retry.max_attempts = ${1 + Math.floor(r() * 9)}\``)
      words += 3
    }
  }
  return out
}

/**
 * Builds the workload's documents, each cut to the longest prefix (in words) whose token count
 * stays within its seeded target. `docTokens(query, doc)` counts what the document adds to a pair.
 */
export function buildWorkload(key, docTokens) {
  const w = WORKLOADS[key]
  const r = rng(w.seed)
  const documents = []
  const targets = []
  const tokens = []
  for (let i = 0; i < w.documents; i++) {
    const target = w.minTokens + Math.floor(r() * (w.maxTokens - w.minTokens + 1))
    // the small benchmark vocab spends a few tokens per word: draw plenty of words
    let ps = pieces(r, w.style, target * 2)
    const text = (k) => ps.slice(0, k).join('').trim()
    let lo = 1
    let hi = ps.length
    while (docTokens(w.query, text(hi)) < target) {
      ps = ps.concat(pieces(r, w.style, target))
      hi = ps.length
    }
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2)
      if (docTokens(w.query, text(mid)) <= target) lo = mid
      else hi = mid - 1
    }
    const doc = text(lo)
    documents.push(doc)
    targets.push(target)
    tokens.push(docTokens(w.query, doc))
  }
  return { key, name: w.name, query: w.query, documents, targets, docTokens: tokens }
}
