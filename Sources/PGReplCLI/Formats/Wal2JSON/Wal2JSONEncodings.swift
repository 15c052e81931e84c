import PGOutput
import PGReplication

/// wal2json's fixed parts of a table's lines, made once per description of the table.
extension CatalogFacts.Table {
    /// Builds the fixed parts of the encoding (see the properties).
    func prepareEncodings(for table: PGTable, _ options: Wal2JSONOptions) {
        tableFields = []
        if options.includeSchemas {
            JSONWriter.append(",\"schema\":", to: &tableFields)
            JSONWriter.appendString(table.schema, to: &tableFields)
        }
        JSONWriter.append(",\"table\":", to: &tableFields)
        JSONWriter.appendString(table.name, to: &tableFields)
        typeOIDs = table.columns.map(\.typeOID)
        flags = table.columns.indices.map { index in
            (table.columns[index].isKey ? 1 : 0) | (index < primaryKey.count && primaryKey[index] ? 2 : 0)
        }
        encoded = []
        offsets = []
        for (index, column) in table.columns.enumerated() {
            offsets.append(encoded.count)
            var head: [UInt8] = []
            JSONWriter.append("{\"name\":", to: &head)
            JSONWriter.appendString(column.name, to: &head)
            if options.includeTypes, index < typeNames.count {
                JSONWriter.append(",\"type\":", to: &head)
                head += typeNames[index]
            }
            if options.includeTypeOids {
                JSONWriter.append(",\"typeoid\":", to: &head)
                JSONWriter.appendNumber(Int32(bitPattern: column.typeOID), to: &head)
            }
            encoded += head
            JSONWriter.append(",\"value\":", to: &encoded)
            offsets.append(encoded.count)
            if options.includeNotNull, index < notNull.count {
                JSONWriter.append(notNull[index] ? ",\"optional\":false" : ",\"optional\":true", to: &encoded)
            }
            if options.includeColumnPositions, index < positions.count {
                JSONWriter.append(",\"position\":", to: &encoded)
                JSONWriter.appendNumber(positions[index], to: &encoded)
            }
            if options.includeDefault, index < defaults.count {
                if let expression = defaults[index] {
                    // wal2json writes the expression in quotes, unescaped.
                    JSONWriter.append(",\"default\":\"", to: &encoded)
                    encoded += Array(expression.utf8)
                    encoded.append(0x22)
                } else {
                    JSONWriter.append(",\"default\":null", to: &encoded)
                }
            }
            encoded.append(0x7D)
            offsets.append(encoded.count)
            encoded += head
            encoded.append(0x7D)
            offsets.append(encoded.count)
        }
    }
}
