// name: gds/system_monitor
// answers: How much heap does the server have free for a GDS projection now, and at most?
// params: none
CALL gds.systemMonitor() YIELD freeHeap, maxHeap
RETURN freeHeap AS free_heap, maxHeap AS max_heap
