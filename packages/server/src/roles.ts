/** What a role name may be: letters, digits and `_ . : -`, starting with a letter, up to 64 characters. */
export const ROLE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/
