/** Commands of the bare-link stress helper (echo-helper.ts). */
export const ECHO_WORD = 1;
export const ECHO_MESSAGE = 2;
export const FAIL = 3;
