/// A model's vocabulary as the grammar matcher sees it: each token id's bytes, the end-of-sequence ids
/// (allowed exactly where the grammar may end), and every token with bytes in a byte trie laid out in
/// depth-first order, so a token mask is one walk that skips a whole subtree as soon as its prefix is
/// refused (the prefix sharing xgrammar and llama.cpp exploit too).
///
/// Tokens without bytes (control tokens) other than end of sequence are never allowed under a constraint.
public final class TokenVocabulary: Sendable {
    /// Logit rows are this long (may exceed the tokenizer's vocabulary: padding ids have no bytes).
    public let size: Int
    public let tokenBytes: [[UInt8]]
    public let endOfSequence: Set<Int32>
    /// Trie nodes in depth-first order (one record each, so the mask walk reads one array).
    let nodes: [TrieNode]
    /// The tokens of every node, node by node (`nodeTokens[node.tokenStart..<node.tokenEnd]`).
    let nodeTokens: [Int32]
    let maxDepth: Int
    /// Words of a token bitmask: one bit per token id.
    public var maskWords: Int { (size + 63) / 64 }

    /// `tokenBytes[id]` are the bytes token `id` stands for (empty for control tokens); `size` is the
    /// logit row length.
    public init(tokenBytes: [[UInt8]], endOfSequence: Set<Int32>, size: Int? = nil) {
        let size = size ?? tokenBytes.count
        self.size = size
        var bytes = tokenBytes
        if bytes.count < size { bytes += Array(repeating: [], count: size - bytes.count) }
        self.tokenBytes = bytes
        self.endOfSequence = endOfSequence
        let order = (0..<min(size, tokenBytes.count)).filter { !tokenBytes[$0].isEmpty }
            .sorted { tokenBytes[$0].lexicographicallyPrecedes(tokenBytes[$1]) }
        var nodeByte: [UInt8] = []
        var nodeDepth: [Int32] = []
        var subtreeEnd: [Int32] = []
        var tokenStart: [Int32] = []
        var tokenEnd: [Int32] = []
        var nodeTokens: [Int32] = []
        var path: [Int] = []  // node index at each depth - 1
        var previous: [UInt8] = []
        var maxDepth = 0
        for id in order {
            let token = tokenBytes[id]
            var common = 0
            while common < min(previous.count, token.count) && previous[common] == token[common] { common += 1 }
            while path.count > common { subtreeEnd[path.removeLast()] = Int32(nodeByte.count) }
            for depth in common..<token.count {
                path.append(nodeByte.count)
                nodeByte.append(token[depth])
                nodeDepth.append(Int32(depth + 1))
                subtreeEnd.append(0)
                tokenStart.append(Int32(nodeTokens.count))
                tokenEnd.append(Int32(nodeTokens.count))
            }
            // Equal byte strings are adjacent in sorted order, so a node's tokens stay contiguous.
            let node = path.last!
            if tokenEnd[node] != Int32(nodeTokens.count) {
                tokenStart[node] = Int32(nodeTokens.count)
                tokenEnd[node] = Int32(nodeTokens.count)
            }
            nodeTokens.append(Int32(id))
            tokenEnd[node] += 1
            maxDepth = max(maxDepth, token.count)
            previous = token
        }
        while let node = path.popLast() { subtreeEnd[node] = Int32(nodeByte.count) }
        nodes = nodeByte.indices.map {
            TrieNode(
                byte: nodeByte[$0],
                depth: nodeDepth[$0],
                subtreeEnd: subtreeEnd[$0],
                tokenStart: tokenStart[$0],
                tokenEnd: tokenEnd[$0]
            )
        }
        self.nodeTokens = nodeTokens
        self.maxDepth = maxDepth
    }

    public var trieNodeCount: Int { nodes.count }
}

/// One node of the vocabulary's byte trie: the byte leading to it, its depth (bytes from the root), the
/// index just past its subtree, and where its tokens (those whose bytes end here) lie in `nodeTokens`.
struct TrieNode: Sendable {
    var byte: UInt8
    var depth: Int32
    var subtreeEnd: Int32
    var tokenStart: Int32
    var tokenEnd: Int32
}
