"""sstools: the Python the integration tests and the scripts share.

  client         the one protocol client (statestored's lines; RESP for Redis)
  harness        the daemon under test: start, kill, restart, logs; the
                 DaemonTestCase of the integration tests; wait_until, limits
  torture        the kill -9 torture (scripts/torture.sh, test_torture.py)
  torture_model  what the torture knows about each key, and its checks
  torture_repl   the kill -9 torture of a replica (scripts/torture.sh --replica,
                 test_torture_repl.py)
  load, load_util
                 the load and hostile-client scenarios (scripts/load.sh,
                 test_load.py) and their client-side machinery
  bench          the helpers of scripts/bench.sh (and its report)
  acl            ACL files and scrypt password hashes for the tests and the
                 load run's AUTH storm
  cluster        separate hosts on one machine (network namespaces behind a
                 bridge; loopback addresses where namespaces cannot be made),
                 daemons on them, and partitions: links down, DROP rules,
                 flapping, netem
  repl           replication's rows (STATS, INFO), waits on them, the
                 operator's moves (promote, follow), a store's contents
  failover       the failover checker and the catch-up timing
                 (scripts/failover.sh, test_failover.py)

Nothing here edits sys.path. The tests get tests/pylib on PYTHONPATH from
ctest (tests/CMakeLists.txt), the scripts from their .sh wrappers.
"""
