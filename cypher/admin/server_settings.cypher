// name: admin/server_settings
// answers: The server's settings that bound write and GDS throughput (heap, page cache, transaction
//          memory, store format) and where Bolt listens, as reported by SHOW SETTINGS (needs the SHOW
//          SETTING privilege).
// params: none
SHOW SETTINGS YIELD name, value
WHERE name IN ['server.memory.heap.initial_size', 'server.memory.heap.max_size',
               'server.memory.pagecache.size', 'db.memory.transaction.total.max',
               'dbms.memory.transaction.total.max', 'db.format', 'server.bolt.listen_address']
RETURN name, value
ORDER BY name
