// The exit codes of the `weft` commands.

/** 0 completed (or valid), 1 failed, 2 invalid input or a store that needs a person, 130 cancelled. */
export const EXIT = { completed: 0, failed: 1, invalid: 2, cancelled: 130 } as const
