// The exit codes of the `weft` commands.

/** 0 completed (or valid), 1 failed, 2 invalid input or a store that needs a person, 130 cancelled, 143 stopped by SIGTERM (the run left to resume). */
export const EXIT = { completed: 0, failed: 1, invalid: 2, cancelled: 130, terminated: 143 } as const
