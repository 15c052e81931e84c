extension LocalCluster {
    /// How a ``LocalCluster`` is set up. Hashable so that ``LocalCluster/shared(_:logger:)`` can keep
    /// one cluster per configuration.
    public struct Configuration: Sendable, Hashable {
        /// How clients authenticate.
        public enum Authentication: Sendable, Hashable {
            /// Everyone may connect as anyone, over the socket and over TCP.
            case trust
            /// TCP connections (`host` lines in pg_hba.conf, including replication) need a SCRAM-SHA-256
            /// password. The role `user` is created as a superuser with the `REPLICATION` attribute and
            /// this password. Connections over the Unix socket stay `trust`, so ``LocalCluster/psql(_:database:)``
            /// keeps working.
            case scramPassword(user: String, password: String)
        }

        /// Server certificate and key for `ssl=on`. The files are copied into the cluster folder
        /// (owned by the server user, mode 0600), so they may live anywhere readable by this process.
        public struct TLSFiles: Sendable, Hashable {
            public var certificateFile: String
            public var keyFile: String

            public init(certificateFile: String, keyFile: String) {
                self.certificateFile = certificateFile
                self.keyFile = keyFile
            }
        }

        /// Extra `postgresql.conf` settings, e.g. `["wal_sender_timeout": "5s"]`. They are written after
        /// the built-in ones, so they override them. Values are quoted for you.
        public var settings: [String: String]
        /// The TCP port on 127.0.0.1; `nil` picks a free one (and retries if it is taken meanwhile).
        public var port: Int?
        /// The folder with `initdb` and `pg_ctl`; `nil` uses ``LocalCluster/discoverBinDirectory(environment:)``.
        public var binDirectory: String?
        public var authentication: Authentication
        public var tls: TLSFiles?

        public init(
            settings: [String: String] = [:], port: Int? = nil, binDirectory: String? = nil,
            authentication: Authentication = .trust, tls: TLSFiles? = nil
        ) {
            self.settings = settings
            self.port = port
            self.binDirectory = binDirectory
            self.authentication = authentication
            self.tls = tls
        }
    }

    /// How ``LocalCluster/stop(mode:)`` shuts the server down (`pg_ctl stop -m`).
    public enum StopMode: String, Sendable {
        /// Wait for clients to disconnect.
        case smart
        /// Disconnect clients, then a clean shutdown with a checkpoint.
        case fast
        /// Quit at once; crash recovery runs at the next start.
        case immediate
    }
}
