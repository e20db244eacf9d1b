// Scores as TEI's raw_scores asks for them: the logit behind a cross-encoder's probability.
import { HttpError } from './answers.mjs'

/**
 * The logit behind a probability. Exact up to float rounding only where the score is a float64
 * sigmoid of one logit, which holds for cross-encoders (`scoring: "classifier"`); Qwen3-style
 * yes/no judges with a pooled head report P(yes) rounded to float32, so theirs would be an
 * approximation, and the server refuses raw_scores for them.
 */
const logitOf = (p) => Math.log(p) - Math.log1p(-p)

export function checkRawScores(request, modelInfo) {
  if (!request.rawScores) return
  if (modelInfo?.scoring !== 'classifier' || modelInfo?.relevantLabel) {
    throw new HttpError(
      400,
      `"raw_scores": true needs a one-label cross-encoder (scoring "classifier"); this model scores "${modelInfo?.scoring ?? 'unknown'}"${modelInfo?.relevantLabel ? ` as the softmax of label "${modelInfo.relevantLabel}"` : ''}, ` +
        'a probability that llama-rerank does not expose as a logit. Ask without raw_scores for scores in [0, 1]',
    )
  }
}

export function rawScoresOf(scores) {
  return scores.map((p, i) => {
    if (!(p > 0 && p < 1)) {
      throw new HttpError(
        422,
        `the score of texts[${i}] is exactly ${p} in float64, so its logit (beyond ±36.7) cannot be recovered; ask without raw_scores`,
      )
    }
    return logitOf(p)
  })
}
