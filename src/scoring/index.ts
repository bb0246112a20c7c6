/** Scoring: CVSS v4.0 base scores, context weighting, the verdict. See README.md beside this file. */
export { score, CONTEXT_WEIGHTS } from './weigh.js';
export { verdict } from './verdict.js';
