/**
 * A progress report of a long command: a step of the work (staging, static analysis, a sandbox
 * phase), or with `tick` an update within the current step (files done, bytes hashed) that only a
 * live terminal line shows. How it is printed is the CLI's (src/cli/progress.ts).
 */
export type Progress = (message: string, tick?: boolean) => void;
