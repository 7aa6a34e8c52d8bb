;; The dot-product score micro-kernels: a 4-user × 8-item register block over the embedding
;; dimension, the item table packed into 8-item panels ([panel][step][8]) so each step is two
;; aligned loads, the users of a quad interleaved ([quad][step][4]).
;;
;; - score_f32(itemOff, userOff, outOff, nQuads, p0, p1, dim, stride): for user quads
;;   0..nQuads-1 and item panels p0..p1-1, writes 4 rows × 8 scores at outOff + 4q·stride + 32p
;;   (byte offsets; stride = bytes per output row). A step is one dimension, f32 multiply then
;;   f32 add per (user, item) pair, so every score is bit-identical to the scalar reference
;;   whatever the blocking.
;; - rank_i16: the same block over 16-bit integer tables, a step being a pair of dimensions
;;   multiplied and pair-summed exactly into i32 lanes by one i32x4.dot_i16x8_s (twice the work
;;   per instruction), with the top-k prefilter fused in: instead of writing scores it hands back
;;   the (item, score) pairs above each user's threshold (the ranking pass of DotKernel.rankTop).
;; The memory is shared: the packed item table in it is one copy for every thread's kernel on
;; that table (DotKernel's PackedItems); each kernel's scratch is its own region of it.
(module
  (import "env" "mem" (memory 1 65536 shared))
  (func $score_f32 (export "score_f32")
    (param $itemOff i32) (param $userOff i32) (param $outOff i32) (param $nQuads i32)
    (param $p0 i32) (param $p1 i32) (param $dim i32) (param $stride i32)
    (local $q i32) (local $p i32) (local $d i32) (local $ip i32) (local $up i32) (local $outp i32)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local $a v128) (local $b v128) (local $u v128)
    (local.set $q (i32.const 0))
    (block $quads_done
      (loop $quads
        (br_if $quads_done (i32.ge_u (local.get $q) (local.get $nQuads)))
        (local.set $p (local.get $p0))
        (block $panels_done
          (loop $panels
            (br_if $panels_done (i32.ge_u (local.get $p) (local.get $p1)))
            (local.set $c0 (v128.const i32x4 0 0 0 0))
            (local.set $c1 (v128.const i32x4 0 0 0 0))
            (local.set $c2 (v128.const i32x4 0 0 0 0))
            (local.set $c3 (v128.const i32x4 0 0 0 0))
            (local.set $c4 (v128.const i32x4 0 0 0 0))
            (local.set $c5 (v128.const i32x4 0 0 0 0))
            (local.set $c6 (v128.const i32x4 0 0 0 0))
            (local.set $c7 (v128.const i32x4 0 0 0 0))
            ;; panel p of the item table ([panel][step][8]), quad q of the user block ([quad][step][4])
            (local.set $ip (i32.add (local.get $itemOff) (i32.shl (i32.mul (local.get $p) (local.get $dim)) (i32.const 5))))
            (local.set $up (i32.add (local.get $userOff) (i32.shl (i32.mul (local.get $q) (local.get $dim)) (i32.const 4))))
            (local.set $d (local.get $dim))
            (loop $steps
              (local.set $a (v128.load offset=0 (local.get $ip)))
              (local.set $b (v128.load offset=16 (local.get $ip)))
                (local.set $u (v128.load32_splat offset=0 (local.get $up)))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $u) (local.get $a))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=4 (local.get $up)))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $u) (local.get $a))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=8 (local.get $up)))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $u) (local.get $a))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=12 (local.get $up)))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $u) (local.get $a))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $u) (local.get $b))))
              (local.set $ip (i32.add (local.get $ip) (i32.const 32)))
              (local.set $up (i32.add (local.get $up) (i32.const 16)))
              (br_if $steps (local.tee $d (i32.sub (local.get $d) (i32.const 1)))))
            ;; 4 user rows × 8 items of the output block
            (local.set $outp
              (i32.add
                (i32.add (local.get $outOff) (i32.mul (i32.shl (local.get $q) (i32.const 2)) (local.get $stride)))
                (i32.shl (local.get $p) (i32.const 5))))
            (v128.store offset=0 (local.get $outp) (local.get $c0))
            (v128.store offset=16 (local.get $outp) (local.get $c1))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (local.get $c2))
            (v128.store offset=16 (local.get $outp) (local.get $c3))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (local.get $c4))
            (v128.store offset=16 (local.get $outp) (local.get $c5))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (local.get $c6))
            (v128.store offset=16 (local.get $outp) (local.get $c7))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $panels)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $quads))))

  ;; rank_i16(itemOff, userOff, nQuads, p0, p1, pairs, ctl, cap): the 16-bit pass of score_i16
  ;; with the top-k prefilter fused in, so no score row is written and read back. The block's
  ;; control area at ctl (BLOCK = 64 users):
  ;;   i32 thr[64] | i32 count[64] | v128 scratch[8] | i32 item[64][cap] | i32 score[64][cap]
  ;; For users 0..4·nQuads-1 and item panels p0..p1-1, every (user r, item) whose integer score
  ;; is > thr[r] is appended to the user's lists (ids increasing), count[r] saying how many.
  ;; The counts start at 0 on each call; cap ≥ 8·(p1 − p0) so no list can overflow. Scores stay
  ;; exact i32 (no f32 conversion). One test of the 4 × 8 block against the four thresholds
  ;; decides whether any lane is kept; only then are the lanes stored and walked.
  (func $rank_i16 (export "rank_i16")
    (param $itemOff i32) (param $userOff i32) (param $nQuads i32) (param $p0 i32) (param $p1 i32)
    (param $dim i32) (param $ctl i32) (param $cap i32)
    (local $q i32) (local $p i32) (local $d i32) (local $ip i32) (local $up i32)
    (local $r i32) (local $row i32) (local $m i32) (local $b i32) (local $cnt i32) (local $t v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local $a v128) (local $bv v128) (local $u v128)
    ;; count[r] = 0 for the block's rows
    (local.set $r (i32.const 0))
    (block $zeroed
      (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $r) (i32.shl (local.get $nQuads) (i32.const 2))))
        (i32.store offset=256 (i32.add (local.get $ctl) (i32.shl (local.get $r) (i32.const 2))) (i32.const 0))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $zero)))
    (local.set $q (i32.const 0))
    (block $quads_done
      (loop $quads
        (br_if $quads_done (i32.ge_u (local.get $q) (local.get $nQuads)))
        (local.set $p (local.get $p0))
        (block $panels_done
          (loop $panels
            (br_if $panels_done (i32.ge_u (local.get $p) (local.get $p1)))
            (local.set $c0 (v128.const i32x4 0 0 0 0))
            (local.set $c1 (v128.const i32x4 0 0 0 0))
            (local.set $c2 (v128.const i32x4 0 0 0 0))
            (local.set $c3 (v128.const i32x4 0 0 0 0))
            (local.set $c4 (v128.const i32x4 0 0 0 0))
            (local.set $c5 (v128.const i32x4 0 0 0 0))
            (local.set $c6 (v128.const i32x4 0 0 0 0))
            (local.set $c7 (v128.const i32x4 0 0 0 0))
            (local.set $ip (i32.add (local.get $itemOff) (i32.shl (i32.mul (local.get $p) (local.get $dim)) (i32.const 5))))
            (local.set $up (i32.add (local.get $userOff) (i32.shl (i32.mul (local.get $q) (local.get $dim)) (i32.const 4))))
            (local.set $d (local.get $dim))
            (loop $steps
              (local.set $a (v128.load offset=0 (local.get $ip)))
              (local.set $bv (v128.load offset=16 (local.get $ip)))
                (local.set $u (v128.load32_splat offset=0 (local.get $up)))
                (local.set $c0 (i32x4.add (local.get $c0) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c1 (i32x4.add (local.get $c1) (i32x4.dot_i16x8_s (local.get $u) (local.get $bv))))
                (local.set $u (v128.load32_splat offset=4 (local.get $up)))
                (local.set $c2 (i32x4.add (local.get $c2) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c3 (i32x4.add (local.get $c3) (i32x4.dot_i16x8_s (local.get $u) (local.get $bv))))
                (local.set $u (v128.load32_splat offset=8 (local.get $up)))
                (local.set $c4 (i32x4.add (local.get $c4) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c5 (i32x4.add (local.get $c5) (i32x4.dot_i16x8_s (local.get $u) (local.get $bv))))
                (local.set $u (v128.load32_splat offset=12 (local.get $up)))
                (local.set $c6 (i32x4.add (local.get $c6) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c7 (i32x4.add (local.get $c7) (i32x4.dot_i16x8_s (local.get $u) (local.get $bv))))
              (local.set $ip (i32.add (local.get $ip) (i32.const 32)))
              (local.set $up (i32.add (local.get $up) (i32.const 16)))
              (br_if $steps (local.tee $d (i32.sub (local.get $d) (i32.const 1)))))
            ;; any lane of the 4 × 8 block above its user's threshold? ($row: the quad's thr[4q])
            (local.set $row (i32.add (local.get $ctl) (i32.shl (local.get $q) (i32.const 4))))
            (if (v128.any_true
                  (v128.or
                    (v128.or
                      (v128.or
                        (i32x4.gt_s (local.get $c0) (local.tee $t (v128.load32_splat offset=0 (local.get $row))))
                        (i32x4.gt_s (local.get $c1) (local.get $t)))
                      (v128.or
                        (i32x4.gt_s (local.get $c2) (local.tee $t (v128.load32_splat offset=4 (local.get $row))))
                        (i32x4.gt_s (local.get $c3) (local.get $t))))
                    (v128.or
                      (v128.or
                        (i32x4.gt_s (local.get $c4) (local.tee $t (v128.load32_splat offset=8 (local.get $row))))
                        (i32x4.gt_s (local.get $c5) (local.get $t)))
                      (v128.or
                        (i32x4.gt_s (local.get $c6) (local.tee $t (v128.load32_splat offset=12 (local.get $row))))
                        (i32x4.gt_s (local.get $c7) (local.get $t))))))
              (then
                ;; scratch <- the block (user r's 8 scores at scratch + 32r), then walk each user's hits
                (v128.store offset=512 (local.get $ctl) (local.get $c0))
                (v128.store offset=528 (local.get $ctl) (local.get $c1))
                (v128.store offset=544 (local.get $ctl) (local.get $c2))
                (v128.store offset=560 (local.get $ctl) (local.get $c3))
                (v128.store offset=576 (local.get $ctl) (local.get $c4))
                (v128.store offset=592 (local.get $ctl) (local.get $c5))
                (v128.store offset=608 (local.get $ctl) (local.get $c6))
                (v128.store offset=624 (local.get $ctl) (local.get $c7))
                (local.set $r (i32.const 0))
                (loop $users
                  ;; $row: this user's index in the block
                  (local.set $row (i32.add (i32.shl (local.get $q) (i32.const 2)) (local.get $r)))
                  (local.set $t (i32x4.splat (i32.load (i32.add (local.get $ctl) (i32.shl (local.get $row) (i32.const 2))))))
                  (local.set $b (i32.add (local.get $ctl) (i32.shl (local.get $r) (i32.const 5))))
                  (local.set $m
                    (i32.or
                      (i32x4.bitmask (i32x4.gt_s (v128.load offset=512 (local.get $b)) (local.get $t)))
                      (i32.shl (i32x4.bitmask (i32x4.gt_s (v128.load offset=528 (local.get $b)) (local.get $t))) (i32.const 4))))
                  (block $walked
                    (loop $walk
                      (br_if $walked (i32.eqz (local.get $m)))
                      (local.set $b (i32.ctz (local.get $m)))
                      (local.set $cnt (i32.load offset=256 (i32.add (local.get $ctl) (i32.shl (local.get $row) (i32.const 2)))))
                      ;; $d: the slot's byte offset from ctl + 640 in the item lists (row·cap + cnt)·4
                      (local.set $d (i32.shl (i32.add (i32.mul (local.get $row) (local.get $cap)) (local.get $cnt)) (i32.const 2)))
                      (i32.store offset=640 (i32.add (local.get $ctl) (local.get $d))
                        (i32.add (i32.shl (local.get $p) (i32.const 3)) (local.get $b)))
                      (i32.store offset=640
                        (i32.add (i32.add (local.get $ctl) (local.get $d)) (i32.shl (local.get $cap) (i32.const 8)))
                        (i32.load offset=512
                          (i32.add (local.get $ctl) (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $b)) (i32.const 2)))))
                      (i32.store offset=256 (i32.add (local.get $ctl) (i32.shl (local.get $row) (i32.const 2))) (i32.add (local.get $cnt) (i32.const 1)))
                      (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
                      (br $walk)))
                  (br_if $users (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const 4))))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $panels)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $quads))))

  ;; exact_f32(userOff, itemOff, dim, listOff, n, outOff): out[i] = the exact score of the user
  ;; row at userOff with item list[i] of the row-major f32 table at itemOff, for i < n rounded up
  ;; to a multiple of 4 (the caller pads the list): f32 multiply then f32 add, dimension by
  ;; dimension, the arithmetic of score_f32 and of the scalar reference, so the scores are
  ;; bit-identical to theirs (rankTop's rescoring of candidates). Four items go through the
  ;; four lanes at once, each lane its own item's sequential sum.
  (func $exact_f32 (export "exact_f32")
    (param $userOff i32) (param $itemOff i32) (param $dim i32) (param $listOff i32) (param $n i32) (param $outOff i32)
    (local $i i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $up i32) (local $d i32)
    (local $acc v128) (local $v v128)
    (block $done
      (loop $quads
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        ;; byte offsets of the four items' rows
        (local.set $p0 (i32.add (local.get $itemOff) (i32.shl (i32.mul (i32.load offset=0 (i32.add (local.get $listOff) (i32.shl (local.get $i) (i32.const 2)))) (local.get $dim)) (i32.const 2))))
        (local.set $p1 (i32.add (local.get $itemOff) (i32.shl (i32.mul (i32.load offset=4 (i32.add (local.get $listOff) (i32.shl (local.get $i) (i32.const 2)))) (local.get $dim)) (i32.const 2))))
        (local.set $p2 (i32.add (local.get $itemOff) (i32.shl (i32.mul (i32.load offset=8 (i32.add (local.get $listOff) (i32.shl (local.get $i) (i32.const 2)))) (local.get $dim)) (i32.const 2))))
        (local.set $p3 (i32.add (local.get $itemOff) (i32.shl (i32.mul (i32.load offset=12 (i32.add (local.get $listOff) (i32.shl (local.get $i) (i32.const 2)))) (local.get $dim)) (i32.const 2))))
        (local.set $up (local.get $userOff))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $d (local.get $dim))
        (loop $steps
          (local.set $v (v128.load32_zero (local.get $p0)))
          (local.set $v (v128.load32_lane 1 (local.get $p1) (local.get $v)))
          (local.set $v (v128.load32_lane 2 (local.get $p2) (local.get $v)))
          (local.set $v (v128.load32_lane 3 (local.get $p3) (local.get $v)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load32_splat (local.get $up)) (local.get $v))))
          (local.set $up (i32.add (local.get $up) (i32.const 4)))
          (local.set $p0 (i32.add (local.get $p0) (i32.const 4)))
          (local.set $p1 (i32.add (local.get $p1) (i32.const 4)))
          (local.set $p2 (i32.add (local.get $p2) (i32.const 4)))
          (local.set $p3 (i32.add (local.get $p3) (i32.const 4)))
          (br_if $steps (local.tee $d (i32.sub (local.get $d) (i32.const 1)))))
        (v128.store (i32.add (local.get $outOff) (i32.shl (local.get $i) (i32.const 2))) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quads))))
)
