import { InitialSchema1764000000000 } from './1764000000000-InitialSchema.js';

/** Every migration, oldest first. Listed explicitly so ESM builds and jest load the same set. */
export const MIGRATIONS = [InitialSchema1764000000000];
