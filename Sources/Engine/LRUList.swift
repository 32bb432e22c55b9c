/// Keys in least-recently-used order with O(1) touch, insert, remove and oldest: the order of one tier of
/// the KV cache. A doubly linked list threaded through a dictionary; written here because no kept package
/// has one.
struct LRUList<Key: Hashable> {
    struct Links {
        var older: Key?
        var newer: Key?
    }

    private(set) var links: [Key: Links] = [:]
    private(set) var oldest: Key?
    private(set) var newest: Key?

    var count: Int { links.count }
    func contains(_ key: Key) -> Bool { links[key] != nil }

    /// Makes `key` the newest, inserting it if absent.
    mutating func touch(_ key: Key) {
        if links[key] != nil {
            guard newest != key else { return }
            remove(key)
        }
        links[key] = Links(older: newest, newer: nil)
        if let newest { links[newest]!.newer = key } else { oldest = key }
        newest = key
    }

    mutating func remove(_ key: Key) {
        guard let entry = links.removeValue(forKey: key) else { return }
        if let older = entry.older { links[older]!.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { links[newer]!.older = entry.older } else { newest = entry.older }
    }

    /// Every key, least recently used first.
    var keysOldestFirst: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(links.count)
        var key = oldest
        while let current = key {
            keys.append(current)
            key = links[current]!.newer
        }
        return keys
    }

    /// Removes and returns the least recently used key.
    mutating func popOldest() -> Key? {
        guard let key = oldest else { return nil }
        remove(key)
        return key
    }
}
