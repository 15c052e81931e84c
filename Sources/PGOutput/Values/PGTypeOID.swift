/// A PostgreSQL type OID (`pg_type.oid`) with named constants for the built-in types this module
/// decodes.
///
/// The values were checked against `pg_type` of PostgreSQL 15. Types created by users (enums,
/// domains, composite types) get OIDs at run time, so they have no constant here.
///
/// ```swift
/// let oid = PGTypeOID(rawValue: column.typeOID)
/// if oid == .int4 { ... }
/// ```
public struct PGTypeOID: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    /// The OID.
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    // MARK: - Scalar types

    public static let bool: PGTypeOID = 16
    public static let bytea: PGTypeOID = 17
    /// The one-byte internal type `"char"` (not `char(n)`, which is ``bpchar``).
    public static let char: PGTypeOID = 18
    public static let name: PGTypeOID = 19
    public static let int8: PGTypeOID = 20
    public static let int2: PGTypeOID = 21
    public static let int4: PGTypeOID = 23
    public static let text: PGTypeOID = 25
    public static let oid: PGTypeOID = 26
    public static let json: PGTypeOID = 114
    public static let cidr: PGTypeOID = 650
    public static let float4: PGTypeOID = 700
    public static let float8: PGTypeOID = 701
    public static let inet: PGTypeOID = 869
    public static let bpchar: PGTypeOID = 1042
    public static let varchar: PGTypeOID = 1043
    public static let date: PGTypeOID = 1082
    public static let time: PGTypeOID = 1083
    public static let timestamp: PGTypeOID = 1114
    public static let timestamptz: PGTypeOID = 1184
    public static let interval: PGTypeOID = 1186
    public static let timetz: PGTypeOID = 1266
    public static let numeric: PGTypeOID = 1700
    public static let uuid: PGTypeOID = 2950
    public static let jsonb: PGTypeOID = 3802
    /// Types kept as they came (``PGRawValue``) that formats map on their own.
    public static let point: PGTypeOID = 600
    public static let money: PGTypeOID = 790
    public static let bit: PGTypeOID = 1560
    public static let varbit: PGTypeOID = 1562

    // MARK: - Array types

    public static let jsonArray: PGTypeOID = 199
    public static let cidrArray: PGTypeOID = 651
    public static let boolArray: PGTypeOID = 1000
    public static let byteaArray: PGTypeOID = 1001
    public static let charArray: PGTypeOID = 1002
    public static let nameArray: PGTypeOID = 1003
    public static let int2Array: PGTypeOID = 1005
    public static let int4Array: PGTypeOID = 1007
    public static let textArray: PGTypeOID = 1009
    public static let bpcharArray: PGTypeOID = 1014
    public static let varcharArray: PGTypeOID = 1015
    public static let int8Array: PGTypeOID = 1016
    public static let float4Array: PGTypeOID = 1021
    public static let float8Array: PGTypeOID = 1022
    public static let oidArray: PGTypeOID = 1028
    public static let inetArray: PGTypeOID = 1041
    public static let timestampArray: PGTypeOID = 1115
    public static let dateArray: PGTypeOID = 1182
    public static let timeArray: PGTypeOID = 1183
    public static let timestamptzArray: PGTypeOID = 1185
    public static let intervalArray: PGTypeOID = 1187
    public static let numericArray: PGTypeOID = 1231
    public static let timetzArray: PGTypeOID = 1270
    public static let uuidArray: PGTypeOID = 2951
    public static let jsonbArray: PGTypeOID = 3807

    /// For a known array type, the OID of its element type (`pg_type.typelem`); `nil` otherwise.
    public var arrayElementType: PGTypeOID? {
        switch self {
        case .jsonArray: .json
        case .cidrArray: .cidr
        case .boolArray: .bool
        case .byteaArray: .bytea
        case .charArray: .char
        case .nameArray: .name
        case .int2Array: .int2
        case .int4Array: .int4
        case .textArray: .text
        case .bpcharArray: .bpchar
        case .varcharArray: .varchar
        case .int8Array: .int8
        case .float4Array: .float4
        case .float8Array: .float8
        case .oidArray: .oid
        case .inetArray: .inet
        case .timestampArray: .timestamp
        case .dateArray: .date
        case .timeArray: .time
        case .timestamptzArray: .timestamptz
        case .intervalArray: .interval
        case .numericArray: .numeric
        case .timetzArray: .timetz
        case .uuidArray: .uuid
        case .jsonbArray: .jsonb
        default: nil
        }
    }

    /// The `pg_type.typname` of a known type (`int4`, `_int4`, …), or the OID in decimal.
    public var description: String {
        if let element = arrayElementType { return "_" + element.description }
        switch self {
        case .bool: return "bool"
        case .bytea: return "bytea"
        case .char: return "char"
        case .name: return "name"
        case .int8: return "int8"
        case .int2: return "int2"
        case .int4: return "int4"
        case .text: return "text"
        case .oid: return "oid"
        case .json: return "json"
        case .cidr: return "cidr"
        case .float4: return "float4"
        case .float8: return "float8"
        case .inet: return "inet"
        case .bpchar: return "bpchar"
        case .varchar: return "varchar"
        case .date: return "date"
        case .time: return "time"
        case .timestamp: return "timestamp"
        case .timestamptz: return "timestamptz"
        case .interval: return "interval"
        case .timetz: return "timetz"
        case .numeric: return "numeric"
        case .uuid: return "uuid"
        case .jsonb: return "jsonb"
        default: return "type \(rawValue)"
        }
    }
}
