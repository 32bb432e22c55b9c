extension Array {
    /// This array's storage, emptied, leaving `self` empty: the step-to-step reuse the engine's hot path
    /// relies on. Appending to the result writes in place (no allocation) once no other copy holds the
    /// storage, such as last step's batch or outputs the caller has let go of.
    mutating func takeEmptied() -> Array {
        var taken = self
        self = []
        taken.removeAll(keepingCapacity: true)
        return taken
    }
}
