/** Options of the state store, one zod schema with its defaults; the type is inferred from it. */
import { z } from 'zod';

export const stateStoreOptions = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('leveldb'),
    /** Directory of the LevelDB database; created (with parents) if missing. */
    dir: z.string().min(1),
  }),
  z.strictObject({ kind: z.literal('memory') }),
]);

export type StateStoreOptions = z.infer<typeof stateStoreOptions>;
