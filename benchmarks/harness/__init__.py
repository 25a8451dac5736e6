"""The benchmarks' shared harness: a raw HTTP/1.1 load client, phases, served processes,
/proc figures, the Entra-shaped workload and the results files (bench_scim.py, bench_scale.py)."""
