// The mock engine lives with the offline tools (synth runs the program on it); tests use the same one.
export * from "../../scripts/lib/mock-engine";
