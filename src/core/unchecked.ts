/** What JSON.parse of an untrusted document holds where a T is expected: any part may be missing or null. */
export type Unchecked<T> = (T extends (infer U)[] ? Unchecked<U>[] : T extends object ? { [K in keyof T]?: Unchecked<T[K]> } : T) | null | undefined;
