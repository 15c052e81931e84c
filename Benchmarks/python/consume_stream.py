"""psycopg2's consume_stream on a pgoutput slot, raw bytes, up to an end LSN (Benchmarks/run).

    python3 consume_stream.py DSN SLOT PUBLICATION END_LSN

Counts messages and row messages (by their tag byte), confirms each message's position with
send_feedback (psycopg2's documented pattern), and stops at the first message at or past the
end LSN. Prints `RESULT messages=… changes=…` like the Swift consumers.
"""
import sys

import psycopg2
import psycopg2.extras


def parse_lsn(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def main():
    dsn, slot, publication, end_text = sys.argv[1:5]
    end = parse_lsn(end_text)
    connection = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cursor = connection.cursor()
    cursor.start_replication(
        slot_name=slot, decode=False, options={"proto_version": "1", "publication_names": publication})
    counts = {"messages": 0, "changes": 0, "last": 0}
    row_tags = (ord("I"), ord("U"), ord("D"))

    def consume(message):
        counts["messages"] += 1
        if message.payload[0] in row_tags:
            counts["changes"] += 1
        message.cursor.send_feedback(flush_lsn=message.data_start)
        counts["last"] = message.data_start
        if message.data_start >= end:
            raise psycopg2.extras.StopReplication()

    try:
        cursor.consume_stream(consume)
    except psycopg2.extras.StopReplication:
        pass
    cursor.send_feedback(flush_lsn=counts["last"], force=True)
    connection.close()
    print(f"psycopg2 consume_stream: {counts['messages']} messages, {counts['changes']} changes")
    print(f"RESULT messages={counts['messages']} changes={counts['changes']}")


if __name__ == "__main__":
    main()
