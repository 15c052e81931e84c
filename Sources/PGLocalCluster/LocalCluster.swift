// The throwaway PostgreSQL cluster used by the tests, the demo and the benchmarks.
