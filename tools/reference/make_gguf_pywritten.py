"""Write tests/data/gguf/pywritten.bin with the python gguf package's GGUFWriter (llama.cpp's
own writer, independent of ours) so test_gguf checks our reader on a file we did not write.
Values are fixed and stated again in tests/test_gguf.c (test_pywritten)."""
import numpy as np
import gguf

OUT = "tests/data/gguf/pywritten.bin"
w = gguf.GGUFWriter(OUT, "baichuan")
w.add_uint8("k.u8", 200)
w.add_int8("k.i8", -100)
w.add_uint16("k.u16", 60000)
w.add_int16("k.i16", -30000)
w.add_uint32("k.u32", 4000000000)
w.add_int32("k.i32", -2000000000)
w.add_float32("k.f32", 0.15625)
w.add_uint64("k.u64", 2**63 + 5)
w.add_int64("k.i64", -2**62)
w.add_float64("k.f64", -1.5)
w.add_bool("k.bool", True)
w.add_string("k.str", "héllo")
w.add_array("k.arr_i32", [1, -2, 3])
w.add_array("k.arr_str", ["a", "", "\u4e2d\u6587"])
w.add_tensor("t.f32", np.arange(6, dtype=np.float32).reshape(2, 3))
w.add_tensor("t.f16", (np.arange(64, dtype=np.float32) / 4).astype(np.float16))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
