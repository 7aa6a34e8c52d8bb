;; The dot-product score micro-kernel: a 4-user × 8-item register block over the embedding
;; dimension, the item table packed into 8-item panels ([panel][step][8]) so each step is two
;; aligned loads, the users of a quad interleaved ([quad][step][4]).
;;
;; score_X(itemOff, userOff, outOff, nQuads, p0, p1, dim, stride): for user quads 0..nQuads-1
;; and item panels p0..p1-1, writes 4 rows × 8 scores at outOff + 4q·stride + 32p (byte
;; offsets; stride = bytes per output row).
;; - score_f32: a step is one dimension, f32 multiply then f32 add per (user, item) pair, so
;;   every score is bit-identical to the scalar reference whatever the blocking.
;; - score_i16: a step is a pair of dimensions of 16-bit integers, multiplied and pair-summed
;;   exactly into i32 lanes by one i32x4.dot_i16x8_s (twice the work per instruction), and
;;   converted to f32 at the end (the quantised ranking pass of DotKernel).
;; The two differ only in those two places.
(module
  (import "env" "mem" (memory 1))
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

  (func $score_i16 (export "score_i16")
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
                (local.set $c0 (i32x4.add (local.get $c0) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c1 (i32x4.add (local.get $c1) (i32x4.dot_i16x8_s (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=4 (local.get $up)))
                (local.set $c2 (i32x4.add (local.get $c2) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c3 (i32x4.add (local.get $c3) (i32x4.dot_i16x8_s (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=8 (local.get $up)))
                (local.set $c4 (i32x4.add (local.get $c4) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c5 (i32x4.add (local.get $c5) (i32x4.dot_i16x8_s (local.get $u) (local.get $b))))
                (local.set $u (v128.load32_splat offset=12 (local.get $up)))
                (local.set $c6 (i32x4.add (local.get $c6) (i32x4.dot_i16x8_s (local.get $u) (local.get $a))))
                (local.set $c7 (i32x4.add (local.get $c7) (i32x4.dot_i16x8_s (local.get $u) (local.get $b))))
              (local.set $ip (i32.add (local.get $ip) (i32.const 32)))
              (local.set $up (i32.add (local.get $up) (i32.const 16)))
              (br_if $steps (local.tee $d (i32.sub (local.get $d) (i32.const 1)))))
            ;; 4 user rows × 8 items of the output block
            (local.set $outp
              (i32.add
                (i32.add (local.get $outOff) (i32.mul (i32.shl (local.get $q) (i32.const 2)) (local.get $stride)))
                (i32.shl (local.get $p) (i32.const 5))))
            (v128.store offset=0 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c0)))
            (v128.store offset=16 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c1)))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c2)))
            (v128.store offset=16 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c3)))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c4)))
            (v128.store offset=16 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c5)))
            (local.set $outp (i32.add (local.get $outp) (local.get $stride)))
            (v128.store offset=0 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c6)))
            (v128.store offset=16 (local.get $outp) (f32x4.convert_i32x4_s (local.get $c7)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $panels)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $quads))))

  ;; above(rowOff, groups, thrBits, outOff) -> count: writes the offsets (in floats from rowOff)
  ;; of the scores > thr among groups × 16 floats at rowOff, in increasing order, and returns
  ;; how many. Four SIMD compares test 16 scores at once; only groups with a hit go scalar, so
  ;; once the threshold is near the final k-th score a row costs about a quarter of a scan.
  (func $above (export "above")
    (param $rowOff i32) (param $groups i32) (param $thrBits i32) (param $outOff i32) (result i32)
    (local $p i32) (local $cnt i32) (local $j i32) (local $thr f32) (local $thrV v128)
    (local.set $thrV (f32x4.splat (local.tee $thr (f32.reinterpret_i32 (local.get $thrBits)))))
    (local.set $p (local.get $rowOff))
    (block $done
      (loop $group
        (br_if $done (i32.eqz (local.get $groups)))
        (if (v128.any_true
              (v128.or
                (v128.or
                  (v128.or
                    (f32x4.gt (v128.load offset=0 (local.get $p)) (local.get $thrV))
                    (f32x4.gt (v128.load offset=16 (local.get $p)) (local.get $thrV)))
                  (f32x4.gt (v128.load offset=32 (local.get $p)) (local.get $thrV)))
                (f32x4.gt (v128.load offset=48 (local.get $p)) (local.get $thrV))))
          (then
            (local.set $j (i32.const 0))
            (loop $lane
              (if (f32.gt (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2)))) (local.get $thr))
                (then
                  (i32.store
                    (i32.add (local.get $outOff) (i32.shl (local.get $cnt) (i32.const 2)))
                    (i32.add (i32.shr_u (i32.sub (local.get $p) (local.get $rowOff)) (i32.const 2)) (local.get $j)))
                  (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))
              (br_if $lane (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 16))))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $groups (i32.sub (local.get $groups) (i32.const 1)))
        (br $group)))
    (local.get $cnt))
)
