/** What a store hands out is a copy, as a database read would be. */
export const copy = <T>(value: T): T => structuredClone(value);
