import cvss from 'ae-cvss-calculator';
import { CVSS4_BASE, CVSS4_BASE_ONLY } from './schema.js';

const { Cvss4P0 } = cvss;

// One computation per distinct vector (each costs milliseconds; the bundled rules share 20 vectors
// among 68 rules): a vector's score never changes.
const scores = new Map<string, number>();

/**
 * CVSS v4.0 base score of a vector, computed by ae-cvss-calculator (metaeffekt's implementation of
 * FIRST's macro-vector method); test/scoring/scoring.test.ts checks it against FIRST calculator values.
 */
export function baseScore(vector: string): number {
  let score = scores.get(vector);
  if (score === undefined) {
    score = new Cvss4P0(vector).calculateScores().base ?? 0;
    scores.set(vector, score);
  }
  return score;
}

/** Why a vector is not a complete CVSS v4.0 base vector, or undefined when it is. */
export function validateVector(vector: string): string | undefined {
  if (!CVSS4_BASE.test(vector)) return `not a complete CVSS v4.0 base vector: ${vector}`;
  // Base metrics alone, each with a defined value, always score (a property test samples them):
  // loading a rule set need not score them, the first finding that needs a score does.
  if (CVSS4_BASE_ONLY.test(vector)) return undefined;
  // other metrics after the base ones: the calculator says whether it knows them
  try {
    baseScore(vector);
  } catch (err) {
    return `CVSS vector rejected: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}
