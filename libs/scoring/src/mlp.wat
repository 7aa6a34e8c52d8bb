;; NeuMF's score of one user against a range of items, SIMD (mlp-kernel.ts holds the layout):
;;
;;   s_i = Σ_k hu_k·g_ik  +  Σ_c ho_c·relu(b2_c + Σ_k relu(a_k + P_ik)·W2_kc)
;;
;; with hu = h[0..d) ⊙ p_u (GMF half, folded per user), g_i the item's GMF half, a = the user's
;; part of the first layer, P_i = the item's part plus b1 (precomputed per item), W2 [d × h2]
;; row-major, ho = h[d..d+h2). d and h2 are multiples of 4; the first-layer activations of an
;; item are written to a scratch (zOff: d floats, then 8 bytes per active unit), compacted to the
;; active (nonzero) ones, and the second layer runs four outputs at a time over those only. f32
;; arithmetic throughout.
;;
;; mlp_scores(gOff, pOff, huOff, aOff, w2Off, b2Off, hoOff, zOff, outOff, i0, i1, d, h2, blocked):
;; scores of items i0..i1-1 to outOff + 4i (byte offsets); $one scores an item, $four four
;; items at once (1.7× faster at dim 64, bit-identical; see $four).
(module
  (import "env" "mem" (memory 1))
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
  (func $one
    (param $gOff i32) (param $pOff i32) (param $huOff i32) (param $aOff i32) (param $w2Off i32)
    (param $b2Off i32) (param $hoOff i32) (param $zOff i32) (param $outOff i32)
    (param $i0 i32) (param $i1 i32) (param $d i32) (param $h2 i32)
    (local $i i32) (local $k i32) (local $c i32) (local $row i32) (local $gp i32) (local $pp i32)
    (local $acc v128) (local $tot v128) (local $z f32) (local $zero v128)
    (local $n i32) (local $actOff i32) (local $actEnd i32) (local $cb i32)
    (local.set $zero (v128.const f32x4 0 0 0 0))
    ;; the compacted active units after the d activations (8 bytes each)
    (local.set $actOff (i32.add (local.get $zOff) (i32.shl (local.get $d) (i32.const 2))))
    (local.set $i (local.get $i0))
    (block $items_done
      (loop $items
        (br_if $items_done (i32.ge_u (local.get $i) (local.get $i1)))
        ;; GMF: hu · g_i, and the first layer's activations into the scratch
        (local.set $gp (i32.add (local.get $gOff) (i32.shl (i32.mul (local.get $i) (local.get $d)) (i32.const 2))))
        (local.set $pp (i32.add (local.get $pOff) (i32.shl (i32.mul (local.get $i) (local.get $d)) (i32.const 2))))
        (local.set $tot (local.get $zero))
        (local.set $k (i32.const 0))
        (block $l1_done
          (loop $l1
            (br_if $l1_done (i32.ge_u (local.get $k) (local.get $d)))
            (local.set $row (i32.shl (local.get $k) (i32.const 2)))
            (local.set $tot (f32x4.add (local.get $tot)
              (f32x4.mul (v128.load (i32.add (local.get $huOff) (local.get $row)))
                         (v128.load (i32.add (local.get $gp) (local.get $row))))))
            (v128.store (i32.add (local.get $zOff) (local.get $row))
              (f32x4.max (local.get $zero)
                (f32x4.add (v128.load (i32.add (local.get $aOff) (local.get $row)))
                           (v128.load (i32.add (local.get $pp) (local.get $row))))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $l1)))
        ;; the active first-layer units, compacted: (value, byte offset of its W2 row) pairs
        ;; at the scratch's second half, so the second layer's loop has no branch
        (local.set $n (i32.const 0))
        (local.set $k (i32.const 0))
        (block $act_done
          (loop $act
            (br_if $act_done (i32.ge_u (local.get $k) (local.get $d)))
            (local.set $z (f32.load (i32.add (local.get $zOff) (i32.shl (local.get $k) (i32.const 2)))))
            (if (f32.gt (local.get $z) (f32.const 0))
              (then
                (local.set $row (i32.add (local.get $actOff) (i32.shl (local.get $n) (i32.const 3))))
                (f32.store (local.get $row) (local.get $z))
                (i32.store offset=4 (local.get $row)
                  (i32.add (local.get $w2Off) (i32.shl (i32.mul (local.get $k) (local.get $h2)) (i32.const 2))))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $act)))
        (local.set $actEnd (i32.add (local.get $actOff) (i32.shl (local.get $n) (i32.const 3))))
        ;; second layer, four outputs at a time, over the active units
        (local.set $c (i32.const 0))
        (block $chunks_done
          (loop $chunks
            (br_if $chunks_done (i32.ge_u (local.get $c) (local.get $h2)))
            (local.set $acc (v128.load (i32.add (local.get $b2Off) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $row (local.get $actOff))
            (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
            (block $k_done
              (loop $ks
                (br_if $k_done (i32.ge_u (local.get $row) (local.get $actEnd)))
                (local.set $acc (f32x4.add (local.get $acc)
                  (f32x4.mul (v128.load32_splat (local.get $row))
                    (v128.load (i32.add (i32.load offset=4 (local.get $row)) (local.get $cb))))))
                (local.set $row (i32.add (local.get $row) (i32.const 8)))
                (br $ks)))
            (local.set $tot (f32x4.add (local.get $tot)
              (f32x4.mul (f32x4.max (local.get $zero) (local.get $acc))
                         (v128.load (i32.add (local.get $hoOff) (local.get $cb))))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $chunks)))
        (f32.store (i32.add (local.get $outOff) (i32.shl (local.get $i) (i32.const 2))) (call $hsum (local.get $tot)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $items))))
;; Four items i..i+3 at once (h2 a multiple of 8): the same sums as $one in the same order,
;; but the second layer runs dense over all d first-layer units (a zero unit adds ±0, which
;; leaves every sum bit-identical) with a 4 items × 8 outputs register block, so each W2 load
;; serves four items and there is no data-dependent branch (the compaction's branch on random
;; ReLU signs mispredicts about every other unit). Scratch at zOff: the four rows of
;; activations (4·d floats), then the four items' running totals (4 × 16 bytes).
  (func $four
    (param $gOff i32) (param $pOff i32) (param $huOff i32) (param $aOff i32) (param $w2Off i32)
    (param $b2Off i32) (param $hoOff i32) (param $zOff i32) (param $outOff i32)
    (param $i i32) (param $d i32) (param $h2 i32)
    (local $j i32) (local $row i32) (local $rowBytes i32) (local $gp i32) (local $pp i32) (local $zp i32)
    (local $tOff i32) (local $c i32) (local $cb i32) (local $w i32) (local $wStep i32) (local $zEnd i32)
    (local $z0 i32) (local $z1 i32) (local $z2 i32) (local $z3 i32)
    (local $tot v128) (local $zero v128) (local $w0 v128) (local $w1 v128) (local $s v128)
    (local $h0 v128) (local $h1 v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local.set $zero (v128.const f32x4 0 0 0 0))
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $tOff (i32.add (local.get $zOff) (i32.shl (local.get $rowBytes) (i32.const 2))))
    ;; GMF and the first layer, item by item, as $one does
    (local.set $j (i32.const 0))
    (block $l1_items_done
      (loop $l1_items
        (br_if $l1_items_done (i32.ge_u (local.get $j) (i32.const 4)))
        (local.set $gp (i32.add (local.get $gOff) (i32.mul (i32.add (local.get $i) (local.get $j)) (local.get $rowBytes))))
        (local.set $pp (i32.add (local.get $pOff) (i32.mul (i32.add (local.get $i) (local.get $j)) (local.get $rowBytes))))
        (local.set $zp (i32.add (local.get $zOff) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $tot (local.get $zero))
        (local.set $row (i32.const 0))
        (block $l1_done
          (loop $l1
            (br_if $l1_done (i32.ge_u (local.get $row) (local.get $rowBytes)))
            (local.set $tot (f32x4.add (local.get $tot)
              (f32x4.mul (v128.load (i32.add (local.get $huOff) (local.get $row)))
                         (v128.load (i32.add (local.get $gp) (local.get $row))))))
            (v128.store (i32.add (local.get $zp) (local.get $row))
              (f32x4.max (local.get $zero)
                (f32x4.add (v128.load (i32.add (local.get $aOff) (local.get $row)))
                           (v128.load (i32.add (local.get $pp) (local.get $row))))))
            (local.set $row (i32.add (local.get $row) (i32.const 16)))
            (br $l1)))
        (v128.store (i32.add (local.get $tOff) (i32.shl (local.get $j) (i32.const 4))) (local.get $tot))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l1_items)))
    ;; second layer, eight outputs (two chunks) of all four items per pass
    (local.set $wStep (i32.shl (local.get $h2) (i32.const 2)))
    (local.set $zEnd (i32.add (local.get $zOff) (local.get $rowBytes)))
    (local.set $c (i32.const 0))
    (block $chunks_done
      (loop $chunks
        (br_if $chunks_done (i32.ge_u (local.get $c) (local.get $h2)))
        (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
        (local.set $a00 (v128.load (i32.add (local.get $b2Off) (local.get $cb))))
        (local.set $a01 (v128.load offset=16 (i32.add (local.get $b2Off) (local.get $cb))))
        (local.set $a10 (local.get $a00)) (local.set $a11 (local.get $a01))
        (local.set $a20 (local.get $a00)) (local.set $a21 (local.get $a01))
        (local.set $a30 (local.get $a00)) (local.set $a31 (local.get $a01))
        (local.set $w (i32.add (local.get $w2Off) (local.get $cb)))
        (local.set $z0 (local.get $zOff))
        (local.set $z1 (i32.add (local.get $z0) (local.get $rowBytes)))
        (local.set $z2 (i32.add (local.get $z1) (local.get $rowBytes)))
        (local.set $z3 (i32.add (local.get $z2) (local.get $rowBytes)))
        (block $k_done
          (loop $ks
            (br_if $k_done (i32.ge_u (local.get $z0) (local.get $zEnd)))
            (local.set $w0 (v128.load (local.get $w)))
            (local.set $w1 (v128.load offset=16 (local.get $w)))
            (local.set $s (v128.load32_splat (local.get $z0)))
            (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $s) (local.get $w0))))
            (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $s) (local.get $w1))))
            (local.set $s (v128.load32_splat (local.get $z1)))
            (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $s) (local.get $w0))))
            (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $s) (local.get $w1))))
            (local.set $s (v128.load32_splat (local.get $z2)))
            (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $s) (local.get $w0))))
            (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $s) (local.get $w1))))
            (local.set $s (v128.load32_splat (local.get $z3)))
            (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $s) (local.get $w0))))
            (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $s) (local.get $w1))))
            (local.set $z0 (i32.add (local.get $z0) (i32.const 4)))
            (local.set $z1 (i32.add (local.get $z1) (i32.const 4)))
            (local.set $z2 (i32.add (local.get $z2) (i32.const 4)))
            (local.set $z3 (i32.add (local.get $z3) (i32.const 4)))
            (local.set $w (i32.add (local.get $w) (local.get $wStep)))
            (br $ks)))
        ;; totals += relu(chunk c)·ho_c, then chunk c + 4, as $one adds them
        (local.set $h0 (v128.load (i32.add (local.get $hoOff) (local.get $cb))))
        (local.set $h1 (v128.load offset=16 (i32.add (local.get $hoOff) (local.get $cb))))
        (v128.store offset=0 (local.get $tOff) (f32x4.add (f32x4.add (v128.load offset=0 (local.get $tOff))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a00)) (local.get $h0)))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a01)) (local.get $h1))))
        (v128.store offset=16 (local.get $tOff) (f32x4.add (f32x4.add (v128.load offset=16 (local.get $tOff))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a10)) (local.get $h0)))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a11)) (local.get $h1))))
        (v128.store offset=32 (local.get $tOff) (f32x4.add (f32x4.add (v128.load offset=32 (local.get $tOff))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a20)) (local.get $h0)))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a21)) (local.get $h1))))
        (v128.store offset=48 (local.get $tOff) (f32x4.add (f32x4.add (v128.load offset=48 (local.get $tOff))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a30)) (local.get $h0)))
          (f32x4.mul (f32x4.max (local.get $zero) (local.get $a31)) (local.get $h1))))
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (br $chunks)))
    (local.set $j (i32.const 0))
    (block $out_done
      (loop $outs
        (br_if $out_done (i32.ge_u (local.get $j) (i32.const 4)))
        (f32.store (i32.add (local.get $outOff) (i32.shl (i32.add (local.get $i) (local.get $j)) (i32.const 2)))
          (call $hsum (v128.load (i32.add (local.get $tOff) (i32.shl (local.get $j) (i32.const 4))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $outs))))
;; mlp_scores(...): blocks of four items by $four when h2 is a multiple of 8 (`blocked` ≠ 0),
;; the rest item by item.
  (func (export "mlp_scores")
    (param $gOff i32) (param $pOff i32) (param $huOff i32) (param $aOff i32) (param $w2Off i32)
    (param $b2Off i32) (param $hoOff i32) (param $zOff i32) (param $outOff i32)
    (param $i0 i32) (param $i1 i32) (param $d i32) (param $h2 i32) (param $blocked i32)
    (local $i i32) (local $end4 i32)
    (local.set $i (local.get $i0))
    (local.set $end4 (local.get $i0))
    (if (i32.and (local.get $blocked) (i32.eqz (i32.and (local.get $h2) (i32.const 7))))
      (then (local.set $end4 (i32.sub (local.get $i1) (i32.and (i32.sub (local.get $i1) (local.get $i0)) (i32.const 3))))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $i) (local.get $end4)))
        (call $four (local.get $gOff) (local.get $pOff) (local.get $huOff) (local.get $aOff) (local.get $w2Off)
          (local.get $b2Off) (local.get $hoOff) (local.get $zOff) (local.get $outOff) (local.get $i) (local.get $d) (local.get $h2))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $blocks)))
    (call $one (local.get $gOff) (local.get $pOff) (local.get $huOff) (local.get $aOff) (local.get $w2Off)
      (local.get $b2Off) (local.get $hoOff) (local.get $zOff) (local.get $outOff) (local.get $end4) (local.get $i1) (local.get $d) (local.get $h2)))
)
