/** What synth and diff print for a value the engine only knows after `pulumi up` (an id, a digest, an address). */
export const COMPUTED = "<computed>";
